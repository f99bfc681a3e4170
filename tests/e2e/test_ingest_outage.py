"""Trader side through a Redis outage: record_* stays fast, the journal takes the overflow, all arrives later."""

from __future__ import annotations

import time

import pytest

from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.trader.monitor import create_monitor
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e

EXAMPLE = {"symbol": "BTC/USDT", "side": "buy", "price": 50000, "quantity": 0.1, "pnl": 1.0, "success": True}
BEFORE, DURING = 200, 3000


def test_records_survive_a_redis_outage(tmp_path, redis_server, redis_url, celery_processes) -> None:
    celery_processes("worker", "-Q", "ingest", "-c", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle")
    journal = tmp_path / "journal"
    monitor = create_monitor({"redis": {"url": redis_url, "socket_timeout_seconds": 1},
                              "trader": {"journal_dir": str(journal), "buffer_max_records": 500,
                                         "batch_max_records": 100, "flush_interval_seconds": 0.01,
                                         "stop_timeout_seconds": 30}})
    store, keys = Store(redis_url), KeySpace()
    total = lambda: int(store.r.hget(keys.trading_agg, "total_trades") or 0)  # noqa: E731
    try:
        for _ in range(BEFORE):
            monitor.record_trade(EXAMPLE)
        wait_until(lambda: total() == BEFORE, timeout=30, message="trades before the outage")

        redis_server.stop()
        durations = []
        for i in range(DURING):
            started = time.perf_counter()
            monitor.record_trade({**EXAMPLE, "pnl": float(i % 3)})
            if i % 50 == 0:
                monitor.record_exchange_latency("binance", 0.1)
            durations.append(time.perf_counter() - started)
        durations.sort()
        # Never waits for Redis (a socket timeout here would be >= 1 s); generous bounds for a busy machine.
        assert durations[len(durations) // 2] < 0.0005, durations[len(durations) // 2]
        assert durations[int(len(durations) * 0.99)] < 0.005 and durations[-1] < 0.25, durations[-5:]
        wait_until(lambda: monitor.client.journal_pending > 0, timeout=30, message="overflow journaled")
        # Memory bound once the batcher has cut the buffer (it holds at most one flush interval of records).
        wait_until(lambda: monitor.client.pending_records <= 500, timeout=10, message="memory bound")
        assert list(journal.glob("journal-*.jsonl"))
        assert monitor.client.stats["send_failures"] > 0

        redis_server.start()  # same port; AOF keeps what was there
        wait_until(lambda: total() == BEFORE + DURING, timeout=60, message="every trade after the restart")
        assert float(store.r.hget(keys.trading_agg, "pnl_total")) == BEFORE + sum(float(i % 3) for i in range(DURING))
        assert monitor.client.stop() is True
        assert not list(journal.glob("journal-*.jsonl"))
    finally:
        if redis_server.proc is None:
            redis_server.start()
        monitor.client.stop(timeout=1)
        store.close()
