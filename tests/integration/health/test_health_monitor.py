"""The health section of TradingMonitor: threads start/stop with it, the public health API works."""

from __future__ import annotations

import asyncio

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.guards.breaker import CircuitBreaker
from graphwiz_monitoring.health.commands import Command, live_traders, read_results, send_command
from graphwiz_monitoring.health.pause import set_trading_paused
from graphwiz_monitoring.health.probes import probe_redis
from graphwiz_monitoring.health.trader_report import read_trader_report
from graphwiz_monitoring.state import Store
from graphwiz_monitoring.trader.monitor import TradingMonitor
from tests.conftest import free_port, wait_until
from tests.fakes.trader_world import dependencies


def test_monitor_runs_listener_and_reporter(redis_url, store, keys, world, tmp_path):
    settings = parse_settings({"redis": {"url": redis_url},
                               "trader": {"name": "m", "poll_interval_seconds": 0.1,
                                          "journal_dir": str(tmp_path / "j")}}, env={})
    shipped: list[dict] = []
    monitor = TradingMonitor(settings, sender=shipped.append)
    world.update(exchanges={"binance": {"connected": False, "rate_limit_remaining": 3}})

    async def scenario() -> None:
        await monitor.start()
        monitor.set_dependencies(**dependencies(world))  # after start works too: read live
        try:
            report = await asyncio.to_thread(wait_until, lambda: (r := read_trader_report(store, keys, 5))
                                             and r.exchanges and r, 10, 0.05, "heartbeat with exchanges")
            assert report.exchanges["binance"]["connected"] is False
            # the reporter feeds update_exchange_status, so the metrics pipeline sees connectivity too
            await asyncio.to_thread(wait_until, lambda: any(
                rec["kind"] == "exchange_status" and rec["data"]["exchange"] == "binance"
                for batch in shipped for rec in batch["records"]), 10, 0.05, "exchange_status shipped")
            await asyncio.to_thread(wait_until, lambda: "m" in live_traders(store, keys, 30), 10, 0.05,
                                    "listener live under trader.name")
            send_command(store, keys, Command(id="m1", action="reconnect", check="exchange_connectivity",
                                              service="exchange", targets=["binance"], ttl_ms=5000))
            result = await asyncio.to_thread(wait_until, lambda: read_results(store, keys, "m1").get("m"), 10, 0.05,
                                             "answer under trader.name")
            assert result["outcome"] == "succeeded" and world.called("exchange_manager.reconnect") == [("binance",)]
            assert monitor.is_trading_paused() is False
            set_trading_paused(store, keys, True, reason="t")
            assert monitor.is_trading_paused() is True
            for _ in range(3):
                CircuitBreaker(store, keys, "agent_health").record_failure()
            assert monitor.get_circuit_breaker_status()["agent_health"]["state"] == "open"
            assert monitor.reset_circuit_breaker("agent_health")["state"] == "closed"
            result = await monitor.health_checker.run_health_check("agent_health")
            assert result.status.value == "healthy"
            status = monitor.get_health_status()
            assert status["trading"]["paused"] is True and status["checks"]["agent_health"]["status"] == "healthy"
        finally:
            await monitor.stop()

    asyncio.run(scenario())
    assert not monitor.health.listener._thread and not monitor.health.reporter._thread
    assert "m" not in live_traders(store, keys, 30)  # a clean stop unregisters: senders stop waiting for it


def test_redis_probe_failure_path():
    dead = Store(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5)
    result = probe_redis(dead)
    assert result.ok is False and "ConnectionError" in result.error and result.latency_seconds < 2


def test_redis_probe_ok(store):
    result = probe_redis(store)
    assert result.ok is True and 0 <= result.latency_seconds < 1
