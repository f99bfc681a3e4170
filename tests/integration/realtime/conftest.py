"""Fixtures for the realtime server tests: a factory for real servers on free ports (stopped at teardown)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import free_port
from tests.fakes.realtime_harness import ServerThread


@pytest.fixture
def realtime(redis_url: str, store, keys) -> Iterator[Any]:
    """Factory: ``realtime(host=..., token=..., allowed_origins=..., client_queue_size=...)`` -> ServerThread."""
    from graphwiz_monitoring.config import parse_settings

    started: list[ServerThread] = []

    def start(metrics_push_seconds: float = 5.0, **websocket: Any) -> ServerThread:
        ws = {"host": "127.0.0.1", "port": free_port(), **websocket}
        settings = parse_settings({"redis": {"url": redis_url}, "websocket": ws}, env={})
        server = ServerThread(settings, store, keys, metrics_push_seconds=metrics_push_seconds)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
