"""The Redis store: the only module that imports ``redis``.

Every Redis error is turned into ``StateError`` naming the URL (password masked), so callers never
depend on redis-py. Lua scripts under ``state/scripts/`` are loaded once per store and called by SHA
(reloaded transparently after a Redis restart flushed the script cache).

With a ``sentinel://`` URL (config/redis_url.py) the client is redis-py's ``Sentinel(...).master_for``:
it asks the sentinels where the master is, and after a failover (a connection error, or READONLY
from a demoted master) asks again and reconnects to the new one; commands are retried meanwhile
(``FAILOVER_RETRIES``), so a failover of a few seconds looks like a slow reply, a longer one like
the short Redis outage every caller already survives (StateError).

Durable writes: a write whose loss would break a promise (``run_script(..., durable=True)``,
``execute_durable(pipe)``) is followed, on the same connection, by ``WAIT <replicas> <timeout>``, so
it returns once that many replicas have it (docs/RELIABILITY.md, "Redis failover with Sentinel").
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis
from redis.backoff import EqualJitterBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

from graphwiz_monitoring.config import RedisSettings, mask_url
from graphwiz_monitoring.config.redis_url import is_sentinel_url, parse_sentinel_url
from graphwiz_monitoring.errors import StateError

log = logging.getLogger(__name__)

SCRIPTS_DIR = Path(__file__).with_name("scripts")
# A command that meets a failover (connection refused, READONLY from the demoted master) is retried this
# often, 0.1 s growing to 1 s apart (equal jitter: at least half of that, so the retries span 3-5 s): the
# time sentinels with down-after-milliseconds of a second or two need to promote a replica, and for
# every sentinel to learn of it (one still naming the old master sends us back there meanwhile).
# Longer failovers surface as StateError, like an outage.
FAILOVER_RETRIES = 8
FAILOVER_BACKOFF_BASE_SECONDS = 0.1
FAILOVER_BACKOFF_CAP_SECONDS = 1.0
# After a WAIT that timed out (no replica connected, e.g. right after a failover left none), durable writes
# stop waiting for this long rather than each paying the whole timeout; they count as unconfirmed.
REPLICA_RECHECK_SECONDS = 5.0
# At most one "not confirmed by a replica" warning per process this often (the counter counts them all).
UNCONFIRMED_LOG_SECONDS = 60.0


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


class _MasterFollowingConnection(SentinelManagedConnection):
    """A Sentinel-managed connection that asks for the master's address on every reconnection.

    redis-py (8.2; issue redis/redis-py#3874, PR #3875 open) re-resolves the master only when the pool
    hands out a connection: a command that meets the failover (READONLY from the demoted master, or a
    refused connection) is retried on the same connection object, which reconnects to the old address
    every time, so the retries cannot succeed (tests/integration/test_sentinel_switchover.py).
    """

    _address_fresh = False

    def connect_to(self, address: tuple[str, int]) -> None:
        self._address_fresh = True  # the pool has just resolved it: no second round trip to the sentinels
        try:
            super().connect_to(address)
        finally:
            self._address_fresh = False

    def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        if not self._sock and not self._address_fresh and self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        super().connect_check_health(check_health=check_health, retry_socket_connect=retry_socket_connect)


def _client_for(url: str, socket_timeout: float, sentinel_master: str | None,
                sentinel_password: str | None) -> redis.Redis:
    """A redis-py client for ``url``: a plain one, or the master of ``sentinel_master`` found by the sentinels."""
    options: dict[str, Any] = {"decode_responses": True, "socket_timeout": socket_timeout,
                               "socket_connect_timeout": socket_timeout, "health_check_interval": 30}
    if not is_sentinel_url(url):
        return redis.Redis.from_url(url, **options)
    if not sentinel_master:
        raise StateError(f"Redis at {mask_url(url)}: a sentinel:// URL needs redis.sentinel_master")
    try:
        addresses = parse_sentinel_url(url)
    except ValueError as exc:
        raise StateError(f"redis.url: {exc}") from None
    sentinel_options: dict[str, Any] = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout}
    if sentinel_password:
        sentinel_options["password"] = sentinel_password
    sentinel = Sentinel(list(addresses.sentinels), sentinel_kwargs=sentinel_options)
    retry = Retry(EqualJitterBackoff(cap=FAILOVER_BACKOFF_CAP_SECONDS, base=FAILOVER_BACKOFF_BASE_SECONDS),
                  FAILOVER_RETRIES)
    return sentinel.master_for(sentinel_master, db=addresses.db, username=addresses.username,
                               password=addresses.password, retry=retry,
                               connection_class=_MasterFollowingConnection, **options)


class Store:
    """Connection to the shared state. ``store.r`` is a guarded redis client (decoded strings).

    ``replicas``: how many replicas a durable write waits for (0: none), at most ``replica_timeout_seconds``.
    """

    def __init__(self, url: str, *, socket_timeout: float = 5.0, client: Any = None,
                 sentinel_master: str | None = None, sentinel_password: str | None = None,
                 replicas: int = 0, replica_timeout_seconds: float = 1.0) -> None:
        self.url = url
        self.safe_url = mask_url(url)
        self._client = client or _client_for(url, socket_timeout, sentinel_master, sentinel_password)
        self.r: Any = _Guarded(self._client, self.safe_url)
        self._shas: dict[str, str] = {}
        self.replicas = replicas
        # WAIT blocks the connection server-side: past the socket timeout the client would give up and retry
        # the whole write. Half of it leaves room for the write itself.
        self._wait_ms = max(1, int(min(replica_timeout_seconds, socket_timeout / 2) * 1000))
        self._skip_wait_until = 0.0
        self._warned_at = float("-inf")
        self._lock = threading.Lock()
        self.unconfirmed_writes = 0  # durable writes no replica confirmed (this process, since start)

    @classmethod
    def from_settings(cls, settings: RedisSettings) -> Store:
        return cls(settings.url, **store_options(settings))

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

    def run_script(self, name: str, keys: Sequence[str], args: Sequence[Any] = (), *, durable: bool = False) -> Any:
        """Run ``scripts/<name>.lua`` atomically by SHA; keys always come in through KEYS.

        ``durable``: a write whose loss would break a promise; it returns once ``replicas`` replicas have it.
        """
        sha = self._shas.get(name) or self._load(name)
        if durable and self._waits():
            for attempt in (1, 2):
                try:
                    pipe = self._client.pipeline(transaction=False)
                    pipe.evalsha(sha, len(keys), *keys, *args)
                    return self._execute_waiting(pipe)[0]
                except redis.exceptions.NoScriptError:
                    if attempt == 2:
                        raise StateError(f"Redis at {self.safe_url}: script {name} not loaded") from None
                    sha = self._load(name)  # Redis restarted (or a replica was promoted) without our scripts
                except redis.RedisError as exc:
                    raise StateError(f"Redis at {self.safe_url}: script {name}: {type(exc).__name__}: {exc}") from None
        try:
            return self._client.evalsha(sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            sha = self._load(name)  # Redis restarted and lost its script cache
            return self._call(self._client.evalsha, sha, len(keys), *keys, *args)
        except redis.RedisError as exc:
            raise StateError(f"Redis at {self.safe_url}: script {name}: {type(exc).__name__}: {exc}") from None

    def execute_durable(self, pipe: Any) -> list[Any]:
        """Execute a pipeline of ``store.r.pipeline(transaction=False)`` as a durable write (see run_script):
        its replies, once ``replicas`` replicas have its writes."""
        target = getattr(pipe, "_target", pipe)
        if getattr(target, "transaction", False):  # inside MULTI, WAIT answers at once without waiting
            raise StateError("execute_durable needs a pipeline(transaction=False): WAIT inside MULTI does not wait")
        if not self._waits():
            return list(self._call(target.execute))
        return self._call(self._execute_waiting, target)

    def _waits(self) -> bool:
        """Whether this durable write waits for replicas (False also while none is known to answer)."""
        if self.replicas <= 0:
            return False
        if time.monotonic() >= self._skip_wait_until:
            return True
        with self._lock:
            self.unconfirmed_writes += 1  # written without waiting: no replica confirmed it
        return False

    def _execute_waiting(self, pipe: Any) -> list[Any]:
        # WAIT counts the writes sent on its own connection: a pipeline keeps both on one.
        pipe.wait(self.replicas, self._wait_ms)
        *replies, acked = pipe.execute(raise_on_error=False)
        if isinstance(acked, Exception):
            raise acked
        if int(acked) < self.replicas:
            self._unconfirmed(int(acked))  # before raising below: a NoScriptError retry then does not wait again
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def _unconfirmed(self, acked: int) -> None:
        now = time.monotonic()
        with self._lock:
            self.unconfirmed_writes += 1
            self._skip_wait_until = now + REPLICA_RECHECK_SECONDS
            warn = now - self._warned_at >= UNCONFIRMED_LOG_SECONDS
            if warn:
                self._warned_at = now
        if warn:
            log.warning("Redis at %s: a durable write was confirmed by %d of %d replica(s) within %d ms; writes "
                        "go on without waiting for %.0f s (a failover meanwhile may lose them)", self.safe_url,
                        acked, self.replicas, self._wait_ms, REPLICA_RECHECK_SECONDS)

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


def redis_client(settings: RedisSettings) -> Any:
    """A plain redis-py client (decoded replies) for ``settings``, following a Sentinel failover like the
    store's: for a library that wants redis-py itself (RedBeat's scheduler, celery/scheduler.py)."""
    options = store_options(settings)
    return _client_for(settings.url, options["socket_timeout"], options["sentinel_master"], options["sentinel_password"])


def store_options(settings: RedisSettings) -> dict[str, Any]:
    """Store keyword arguments for ``settings`` (besides the URL): timeouts, Sentinel, durable writes."""
    password = settings.sentinel_password.get_secret_value() if settings.sentinel_password else None
    return {"socket_timeout": settings.socket_timeout_seconds, "sentinel_master": settings.sentinel_master,
            "sentinel_password": password, "replicas": settings.replicas_to_wait,
            "replica_timeout_seconds": settings.replica_ack_timeout_seconds}


@functools.lru_cache(maxsize=8)
def shared_store(url: str, socket_timeout: float = 5.0, sentinel_master: str | None = None,
                 sentinel_password: str | None = None, replicas: int = 0,
                 replica_timeout_seconds: float = 1.0) -> Store:
    """One store per URL and options per process (redis-py pools connections; workers reuse them)."""
    return Store(url, socket_timeout=socket_timeout, sentinel_master=sentinel_master,
                 sentinel_password=sentinel_password, replicas=replicas,
                 replica_timeout_seconds=replica_timeout_seconds)


def settings_store(settings: RedisSettings) -> Store:
    """The process's shared store for ``settings`` (Sentinel and durable-write options included)."""
    return shared_store(settings.url, **store_options(settings))
