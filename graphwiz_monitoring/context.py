"""Process-wide settings and store, resolved once (workers, exporter, realtime and CLI share this)."""

from __future__ import annotations

import functools
import os
import socket

from graphwiz_monitoring.config import Settings, load_settings
from graphwiz_monitoring.state import KeySpace, Store


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from --config / $GRAPHWIZ_CONFIG / ./monitoring.yaml, loaded once per process."""
    return load_settings()


def get_store(settings: Settings | None = None) -> Store:
    settings = settings or get_settings()
    return _store(settings.redis.url, settings.redis.socket_timeout_seconds)


@functools.lru_cache(maxsize=8)
def _store(url: str, socket_timeout: float) -> Store:
    return Store(url, socket_timeout=socket_timeout)


def get_keys(settings: Settings | None = None) -> KeySpace:
    return KeySpace((settings or get_settings()).redis.namespace)


def hostname() -> str:
    """The host label for per-host metrics ($GRAPHWIZ_HOST overrides, e.g. in containers)."""
    return os.environ.get("GRAPHWIZ_HOST") or socket.gethostname()


def reset() -> None:
    """Forget cached settings and stores (tests, config reload)."""
    get_settings.cache_clear()
    _store.cache_clear()
