"""The trader's own servers (trader/servers.py) in this process: what the keys' three states serve, a stop
that comes before the bind, and a refused realtime bind that costs one log line and never fails start().
The description's Basic Usage in real processes: tests/e2e/test_description_servers.py."""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from typing import Any

from graphwiz_monitoring.trader.monitor import create_monitor
from tests.conftest import free_port, port_open, wait_until


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        assert answer.status == 200
        return answer.read().decode()


def _config(redis_url: str, tmp_path: Any, monitoring: dict[str, Any], websocket: dict[str, Any]) -> dict[str, Any]:
    return {"monitoring": monitoring, "websocket": websocket, "redis": {"url": redis_url},
            # No worker runs here: stop() need not wait for the host metrics' batches to be recorded.
            "trader": {"journal_dir": str(tmp_path / "journal"), "stop_timeout_seconds": 0.2}}


def test_only_an_explicit_true_serves_from_the_trader(redis_url, tmp_path) -> None:
    metrics_port, stream_port = free_port(), free_port()

    async def run(monitoring: dict[str, Any]) -> tuple[bool, bool]:
        monitor = create_monitor(_config(redis_url, tmp_path, {"prometheus_port": metrics_port, **monitoring},
                                         {"port": stream_port}))
        await monitor.start()
        try:
            if monitoring.get("enable_prometheus"):
                await asyncio.to_thread(wait_until, lambda: port_open(metrics_port), 10, 0.02, "/metrics")
                body = await asyncio.to_thread(_get, f"http://127.0.0.1:{metrics_port}/metrics")
                assert "graphwiz_exporter_redis_up 1.0" in body.splitlines()
            if monitoring.get("enable_realtime"):
                await asyncio.to_thread(wait_until, lambda: port_open(stream_port), 10, 0.02, "the stream")
            return port_open(metrics_port), port_open(stream_port)
        finally:
            await monitor.stop()
            assert not port_open(metrics_port) and not port_open(stream_port)

    assert asyncio.run(run({})) == (False, False)  # unset: `graphwiz-monitoring run` serves, not the trader
    assert asyncio.run(run({"enable_prometheus": False, "enable_realtime": False})) == (False, False)
    assert asyncio.run(run({"enable_prometheus": True})) == (True, False)
    assert asyncio.run(run({"enable_prometheus": True, "enable_realtime": True})) == (True, True)


def test_stop_right_after_start_leaves_no_port_open(redis_url, tmp_path) -> None:
    metrics_port, stream_port = free_port(), free_port()
    config = _config(redis_url, tmp_path, {"prometheus_port": metrics_port, "enable_prometheus": True,
                                           "enable_realtime": True}, {"port": stream_port})

    async def start_stop() -> None:
        monitor = create_monitor(config)
        await monitor.start()
        await monitor.stop()  # before or while the threads bind: they close what they opened, or never open

    for _ in range(2):
        asyncio.run(start_stop())
        assert not port_open(metrics_port) and not port_open(stream_port)


def test_a_refused_realtime_bind_is_one_error_line_and_recording_goes_on(redis_url, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="graphwiz_monitoring")
    config = _config(redis_url, tmp_path, {"enable_realtime": True}, {"host": "0.0.0.0", "port": free_port()})

    async def main() -> None:
        monitor = create_monitor(config)
        await monitor.start()  # does not raise: the trader trades on
        try:
            await asyncio.to_thread(wait_until, lambda: _lines(caplog, "realtime"), 10, 0.02, "the log line")
            monitor.record_trade({"symbol": "BTC/USDT", "side": "buy", "price": 1, "quantity": 1})
            assert await asyncio.to_thread(monitor.flush, 10)
        finally:
            await monitor.stop()

    asyncio.run(main())
    lines = _lines(caplog, "realtime")
    assert len(lines) == 1 and lines[0].levelno == logging.ERROR
    assert "websocket.token: required" in lines[0].getMessage()


def _lines(caplog: Any, what: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "graphwiz_monitoring.trader.servers" and what in r.getMessage()]
