"""Health-area fixtures: loopback HTTP status endpoints and a steerable trader world."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graphwiz_monitoring.trader.dependencies import Dependencies
from graphwiz_monitoring.trader.reporter import StatusReporter
from tests.fakes.status_server import StatusServer
from tests.fakes.trader_world import World, dependencies


@pytest.fixture
def status_servers() -> Iterator:
    """Factory: ``status_servers()`` starts one more loopback status endpoint; all closed at teardown."""
    servers: list[StatusServer] = []

    def make() -> StatusServer:
        servers.append(StatusServer())
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def report(store, keys, world):
    """Write one trader heartbeat from the world's objects (``report(exclude=[...])`` drops objects)."""

    def write(exclude: tuple[str, ...] = (), world_: World | None = None) -> dict:
        deps = {k: v for k, v in dependencies(world_ or world).items() if k not in exclude}
        reporter = StatusReporter(store, keys, Dependencies(**deps), interval=1.0, host="trader-host")
        return reporter.report_once()

    return write
