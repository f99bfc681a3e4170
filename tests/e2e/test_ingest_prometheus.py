"""Trades flow through two real Celery workers into Redis, the exporter and a real Prometheus.

Counts equal what was sent, although one batch is delivered twice; ``query_prometheus`` returns the
P&L series Prometheus scraped from the exporter.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from graphwiz_monitoring.exporter.server import ExporterServer
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.trader.monitor import create_monitor
from tests.conftest import wait_until
from tests.fakes.prometheus_server import PrometheusServer

pytestmark = pytest.mark.e2e

TRADES = 3000
EXAMPLE = {"symbol": "BTC/USDT", "side": "buy", "price": 50000, "quantity": 0.1, "success": True}


def test_two_workers_redelivered_batch_and_prometheus_history(tmp_path, redis_url, celery_processes) -> None:
    workers = [celery_processes("worker", "-Q", "ingest", "-c", "1", "-n", f"ingest{i}@%h", "--loglevel", "INFO",
                                "--without-gossip", "--without-mingle")
               for i in range(2)]
    config = {"redis": {"url": redis_url}, "monitoring": {"initial_capital_usd": 100_000},
              "trader": {"journal_dir": str(tmp_path / "journal"), "batch_max_records": 100,
                         "flush_interval_seconds": 0.01}}
    monitor = create_monitor(config)
    store, keys = Store(redis_url), KeySpace()
    exporter = ExporterServer(monitor.settings, host="127.0.0.1", port=0).start()
    prometheus = PrometheusServer(tmp_path / "prometheus", [f"127.0.0.1:{exporter.port}"])
    monitor.settings.monitoring.prometheus_url = prometheus.url
    try:
        asyncio.run(monitor.start())
        expected_pnl = 0.0
        for i in range(TRADES):
            pnl = float((i % 7) - 3)  # wins and losses
            expected_pnl += pnl
            monitor.record_trade({**EXAMPLE, "pnl": pnl, "exchange": "binance", "execution_time": 0.01 * (i % 5)})
        # One batch delivered twice, as Redis does after a visibility timeout or a lost ack.
        twice = {"batch_id": "redelivered-1", "records": [
            {"kind": "trade", "data": {**EXAMPLE, "pnl": 1.0, "trade_id": f"twice-{n}"}} for n in range(50)]}
        monitor.client._sender(twice)
        monitor.client._sender(twice)
        expected_pnl += 50.0
        assert monitor.flush(30)

        def counted() -> bool:
            return store.r.hget(keys.trading_agg, "total_trades") == str(TRADES + 50)

        wait_until(counted, timeout=60, message="all trades counted")
        time.sleep(0.5)  # a duplicate still in flight would land now
        agg = store.r.hgetall(keys.trading_agg)
        assert int(agg["total_trades"]) == TRADES + 50
        assert float(agg["pnl_total"]) == pytest.approx(expected_pnl)
        assert int(store.r.hget(keys.ingest_stats, "records:trade")) == TRADES + 50
        assert store.r.zscore(keys.batches_seen, "redelivered-1") is not None
        logs = "".join(worker.output() for worker in workers)
        assert "'batch_id': 'redelivered-1', 'duplicate': True" in logs  # the second delivery was seen and ignored
        assert "'batch_id': 'redelivered-1', 'duplicate': False" in logs
        for worker in workers:  # prefetch 1 + acks_late: both workers took batches
            assert "workers.ingest.ingest_batch" in worker.output(), worker.output()[-2000:]
            assert worker.alive()

        def scraped_pnl() -> list | None:
            data = asyncio.run(monitor.query_prometheus("graphwiz_trading_pnl_usd", hours=0.05, resolution="1s"))
            series = data["result"]
            if series and float(series[0]["values"][-1][1]) == pytest.approx(expected_pnl):
                return series
            return None

        series = wait_until(scraped_pnl, timeout=30, interval=0.5, message="Prometheus has the final P&L")
        assert series[0]["metric"]["__name__"] == "graphwiz_trading_pnl_usd"
        assert len(series[0]["values"]) >= 1
        total = asyncio.run(monitor.query_prometheus("graphwiz_trading_total_trades_total", hours=0.05,
                                                     resolution="1s"))
        assert float(total["result"][0]["values"][-1][1]) == TRADES + 50
    finally:
        asyncio.run(monitor.stop())
        prometheus.stop()
        exporter.stop()
        store.close()
