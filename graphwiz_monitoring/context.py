"""Process-wide settings and store, resolved once (workers, exporter, realtime and CLI share this)."""

from __future__ import annotations

import functools
import os
import socket

from graphwiz_monitoring.config import Settings, load_settings
from graphwiz_monitoring.state import KeySpace, Store, settings_store, shared_store


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from --config / $GRAPHWIZ_CONFIG / ./monitoring.yaml, loaded once per process."""
    return load_settings()


def get_store(settings: Settings | None = None) -> Store:
    """This process's store for ``settings`` (one per URL and options: redis-py pools the connections)."""
    return settings_store((settings or get_settings()).redis)


def get_keys(settings: Settings | None = None) -> KeySpace:
    return KeySpace((settings or get_settings()).redis.namespace)


def hostname() -> str:
    """The host label for per-host metrics ($GRAPHWIZ_HOST overrides, e.g. in containers)."""
    return os.environ.get("GRAPHWIZ_HOST") or socket.gethostname()


def reset() -> None:
    """Forget cached settings and stores (tests, config reload)."""
    get_settings.cache_clear()
    shared_store.cache_clear()
