"""A batch the broker accepted and then lost is sent again by the trader, and counted once.

The loss is made real: with no worker running, one queued ingest message is removed from Redis (what
a kill -9 right after a worker's BRPOP, or an AOF everysec loss, leaves behind). A worker then drains
the rest; the trader finds that batch missing from ``batches:seen`` and sends it again.
"""

from __future__ import annotations

import json

import pytest

from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.trader.monitor import create_monitor
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e

EXAMPLE = {"symbol": "BTC/USDT", "side": "buy", "price": 50000, "quantity": 0.1, "pnl": 1.0, "success": True}
TRADES = 300
INGEST_WORKER = ("worker", "-Q", "ingest", "-c", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle")


def record_and_lose_one_batch(monitor, store) -> None:
    """Record TRADES trades (50 per batch) with no worker running, then remove the oldest queued batch."""
    for i in range(TRADES):
        monitor.record_trade({**EXAMPLE, "pnl": float(i)})
    assert monitor.client.flush(timeout=30)
    wait_until(lambda: store.r.llen("ingest") >= 2, message="batches queued")
    lost = json.loads(store.r.rpop("ingest"))  # the oldest message: gone, as if popped by a dying worker
    assert lost["headers"]["task"] == "workers.ingest.ingest_batch"


def test_a_batch_lost_by_the_broker_is_sent_again_and_counted_once(tmp_path, redis_url, celery_processes) -> None:
    monitor = create_monitor({"redis": {"url": redis_url},
                              "trader": {"journal_dir": str(tmp_path / "journal"), "batch_max_records": 50,
                                         "flush_interval_seconds": 0.01, "resend_unconfirmed_after_seconds": 1}})
    store, keys = Store(redis_url), KeySpace()
    total = lambda: int(store.r.hget(keys.trading_agg, "total_trades") or 0)  # noqa: E731
    try:
        record_and_lose_one_batch(monitor, store)
        celery_processes(*INGEST_WORKER)
        wait_until(lambda: monitor.client.stats["resent_batches"] >= 1, timeout=30, message="the lost batch re-sent")
        wait_until(lambda: total() == TRADES, timeout=30, message=f"all {TRADES} trades counted (have {total()})")
        assert float(store.r.hget(keys.trading_agg, "pnl_total")) == sum(float(i) for i in range(TRADES))
        # Nothing else was re-sent: the other batches were recorded before their time was up.
        assert monitor.client.stats["resent_batches"] == 1
        assert int(store.r.hget(keys.ingest_stats, "duplicates:trade") or 0) == 0
    finally:
        monitor.client.stop(timeout=1)
        store.close()


def test_a_batch_lost_just_before_stop_is_journaled_and_sent_by_the_next_client(
        tmp_path, redis_url, celery_processes) -> None:
    trader = {"journal_dir": str(tmp_path / "journal"), "batch_max_records": 50, "flush_interval_seconds": 0.01}
    monitor = create_monitor({"redis": {"url": redis_url}, "trader": trader})
    store, keys = Store(redis_url), KeySpace()
    total = lambda: int(store.r.hget(keys.trading_agg, "total_trades") or 0)  # noqa: E731
    try:
        record_and_lose_one_batch(monitor, store)  # long before the re-send time (30 s) is up
        celery_processes(*INGEST_WORKER)
        wait_until(lambda: total() == TRADES - 50, timeout=30, message="all but the lost batch counted")
        # stop() waits (2 s at most) for workers to record what was sent and journals the batch never recorded.
        assert monitor.client.stop() is False
        assert list((tmp_path / "journal").glob("journal-*.jsonl"))

        successor = create_monitor({"redis": {"url": redis_url}, "trader": trader})
        successor.client.start()
        wait_until(lambda: total() == TRADES, timeout=30, message=f"all {TRADES} trades counted (have {total()})")
        assert float(store.r.hget(keys.trading_agg, "pnl_total")) == sum(float(i) for i in range(TRADES))
        assert successor.client.stop() is True
        assert int(store.r.hget(keys.ingest_stats, "duplicates:trade") or 0) == 0
    finally:
        monitor.client.stop(timeout=1)
        store.close()
