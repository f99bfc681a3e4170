"""The trader's status reporter: what it polls, what it writes, and that a bad object cannot stall it."""

from __future__ import annotations

import asyncio
import threading
import time

from graphwiz_monitoring.health.trader_report import read_trader_report
from graphwiz_monitoring.trader.dependencies import Dependencies
from graphwiz_monitoring.trader.reporter import StatusReporter
from tests.conftest import wait_until
from tests.fakes.trader_world import dependencies


def test_heartbeat_round_trip_and_exchange_feed(store, keys, world):
    fed: list = []
    world.update(exchanges={"binance": {"connected": True, "rate_limit_remaining": 42}})
    reporter = StatusReporter(store, keys, Dependencies(**dependencies(world)), interval=1, host="h1",
                              on_exchange_status=lambda *a: fed.append(a))
    reporter.report_once()
    report = read_trader_report(store, keys, stale_after_seconds=5)
    assert report.host == "h1" and not report.stale and report.age_seconds < 2 and report.pid > 0
    assert report.exchanges == {"binance": {"connected": True, "rate_limit_remaining": 42.0}}
    assert report.neo4j["connected"] is True and report.neo4j["active_transactions"] == 0
    assert report.agents == {"momentum": {"healthy": True, "status": "running", "failures": None}}
    assert report.trading == {"positions": 3, "active_transactions": 1, "leverage": 1.0, "drawdown": 0.01,
                              "paused": False}
    assert fed == [("binance", True, 42.0)]
    assert 0 < store.r.ttl(keys.trader_heartbeat) <= 7 * 24 * 3600


def test_absent_objects_are_null_and_no_report_is_none(store, keys):
    assert read_trader_report(store, keys, 5) is None
    StatusReporter(store, keys, Dependencies(), interval=1, host="h").report_once()
    report = read_trader_report(store, keys, 5)
    assert (report.exchanges, report.neo4j, report.agents, report.trading) == (None, None, None, None)


class AsyncManager:
    """Async methods (as in an asyncio trader) and the attribute-style fallback for exchanges."""

    class Exchange:
        def __init__(self, connected: bool) -> None:
            self.connected = connected
            self.rate_limit_remaining = 7

    def __init__(self) -> None:
        self.exchanges = {"a": self.Exchange(True), "b": self.Exchange(False)}


class AsyncAgents:
    async def get_agent_status(self):
        await asyncio.sleep(0)
        return {"x": {"status": "running", "failures": 2}, "y": "failed"}


class Hung:
    def ping(self):
        time.sleep(5)


def test_async_methods_attribute_fallback_and_hung_calls(store, keys):
    deps = Dependencies(exchange_manager=AsyncManager(), agent_manager=AsyncAgents(), neo4j_graph=Hung())
    reporter = StatusReporter(store, keys, deps, interval=0.5, host="h")
    started = time.monotonic()
    snap = reporter.report_once()
    assert time.monotonic() - started < 2  # the hung ping is cut off at the poll timeout
    assert snap["exchanges"] == {"a": {"connected": True, "rate_limit_remaining": 7.0},
                                 "b": {"connected": False, "rate_limit_remaining": 7.0}}
    assert snap["agents"]["x"] == {"healthy": True, "status": "running", "failures": 2}
    assert snap["agents"]["y"]["healthy"] is False
    assert snap["neo4j"]["connected"] is False and "did not return" in snap["neo4j"]["error"]


def test_async_method_runs_on_the_traders_loop(store, keys):
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    seen: list = []

    class Graph:
        async def ping(self):
            seen.append(asyncio.get_running_loop())
            return True

    try:
        snap = StatusReporter(store, keys, Dependencies(neo4j_graph=Graph(), loop=loop), 1, host="h").report_once()
        assert snap["neo4j"]["connected"] is True and seen == [loop]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_reporter_thread_beats_until_stopped(store, keys, world):
    reporter = StatusReporter(store, keys, Dependencies(**dependencies(world)), interval=0.1, host="h")
    reporter.start()
    try:
        first = wait_until(lambda: read_trader_report(store, keys, 5), message="first heartbeat").last_seen
        wait_until(lambda: read_trader_report(store, keys, 5).last_seen > first, message="next heartbeat")
    finally:
        reporter.stop()
    last = read_trader_report(store, keys, 5).last_seen
    time.sleep(0.3)
    assert read_trader_report(store, keys, 5).last_seen == last
    assert read_trader_report(store, keys, 0.2).stale


def test_broken_exchange_manager_reports_an_error_entry(store, keys):
    class Broken:
        def get_status(self):
            raise RuntimeError("exchange layer crashed")

    snap = StatusReporter(store, keys, Dependencies(exchange_manager=Broken()), 1, host="h").report_once()
    assert snap["exchanges"]["__error__"]["connected"] is False
    assert "exchange layer crashed" in snap["exchanges"]["__error__"]["error"]
