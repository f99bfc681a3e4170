"""Fixtures of the chaos suite: an in-process realtime server and a worker that logs at INFO."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import free_port
from tests.fakes.realtime_harness import ServerThread


@pytest.fixture
def realtime_server(redis_url: str, store: Any, keys: Any) -> Iterator[Any]:
    """Factory: ``realtime_server(**websocket_settings)`` -> a started ServerThread (stopped at teardown)."""
    from graphwiz_monitoring.config import parse_settings

    started: list[ServerThread] = []

    def start(**websocket: Any) -> ServerThread:
        ws = {"host": "127.0.0.1", "port": free_port(), **websocket}
        settings = parse_settings({"redis": {"url": redis_url}, "websocket": ws}, env={})
        server = ServerThread(settings, store, keys, metrics_push_seconds=0.5)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
