"""The Redis store: the only module that imports ``redis``.

Every Redis error is turned into ``StateError`` naming the URL (password masked), so callers never
depend on redis-py. Lua scripts under ``state/scripts/`` are loaded once per store and called by SHA
(reloaded transparently after a Redis restart flushed the script cache).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis

from graphwiz_monitoring.config import RedisSettings, mask_url
from graphwiz_monitoring.errors import StateError

SCRIPTS_DIR = Path(__file__).with_name("scripts")


class _Guarded:
    """Wraps a redis client or pipeline so that every call raises StateError instead of redis errors."""

    def __init__(self, target: Any, url: str) -> None:
        self._target = target
        self._url = url

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = attr(*args, **kwargs)
            except redis.RedisError as exc:
                raise StateError(f"Redis at {self._url}: {type(exc).__name__}: {exc}") from None
            if isinstance(result, (redis.client.Pipeline, redis.client.PubSub)):  # PubSub: realtime bridge
                return _Guarded(result, self._url)
            return result

        return call

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        reset = getattr(self._target, "reset", None)
        if reset:
            reset()


class Store:
    """Connection to the shared state. ``store.r`` is a guarded redis client (decoded strings)."""

    def __init__(self, url: str, *, socket_timeout: float = 5.0, client: Any = None) -> None:
        self.url = url
        self.safe_url = mask_url(url)
        self._client = client or redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout,
            health_check_interval=30,
        )
        self.r: Any = _Guarded(self._client, self.safe_url)
        self._shas: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: RedisSettings) -> Store:
        return cls(settings.url, socket_timeout=settings.socket_timeout_seconds)

    def ping(self) -> bool:
        """True when Redis answers; raises StateError otherwise."""
        return bool(self.r.ping())

    def now(self) -> float:
        """The Redis server's clock (``TIME``) in epoch seconds: the one clock all processes share.

        Hosts' clocks differ; every time decision shared between processes is taken on this one.
        """
        seconds, micros = self.r.time()
        return int(seconds) + int(micros) / 1_000_000

    def is_available(self) -> bool:
        try:
            return self.ping()
        except StateError:
            return False

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------ Lua scripts

    def run_script(self, name: str, keys: Sequence[str], args: Sequence[Any] = ()) -> Any:
        """Run ``scripts/<name>.lua`` atomically by SHA; keys always come in through KEYS."""
        sha = self._shas.get(name) or self._load(name)
        try:
            return self._client.evalsha(sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            sha = self._load(name)  # Redis restarted and lost its script cache
            return self._call(self._client.evalsha, sha, len(keys), *keys, *args)
        except redis.RedisError as exc:
            raise StateError(f"Redis at {self.safe_url}: script {name}: {type(exc).__name__}: {exc}") from None

    def _load(self, name: str) -> str:
        path = SCRIPTS_DIR / f"{name}.lua"
        try:
            source = path.read_text(encoding="utf-8")
        except OSError:
            raise StateError(f"no Lua script named {name!r} in {SCRIPTS_DIR}") from None
        sha = self._call(self._client.script_load, source)
        self._shas[name] = sha
        return sha

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except redis.RedisError as exc:
            raise StateError(f"Redis at {self.safe_url}: {type(exc).__name__}: {exc}") from None


@functools.lru_cache(maxsize=8)
def shared_store(url: str, socket_timeout: float = 5.0) -> Store:
    """One store per URL per process (redis-py pools connections; workers reuse them)."""
    return Store(url, socket_timeout=socket_timeout)
