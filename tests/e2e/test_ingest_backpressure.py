"""Trader side through a Redis outage longer than its bounds: refused at the call, never silently dropped.

Memory (trader.buffer_max_records) and the journal (trader.journal_max_bytes, or a journal that cannot be
written) fill up; then record_trade raises BackpressureError; once Redis is back and the backlog drains,
record_trade is accepted again and every accepted trade is counted exactly once by the real ingest worker.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from graphwiz_monitoring.errors import BackpressureError
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.trader.monitor import TradingMonitor, create_monitor
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e

EXAMPLE = {"symbol": "BTC/USDT", "side": "buy", "price": 50000, "quantity": 0.1, "pnl": 1.0, "success": True}
MEMORY, BATCH = 50, 10


@pytest.fixture
def counted(redis_server, redis_url, celery_processes):
    """Trades the ingest worker counted; Redis is running again after the test."""
    celery_processes("worker", "-Q", "ingest", "-c", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle")
    store, keys = Store(redis_url), KeySpace()
    yield lambda: int(store.r.hget(keys.trading_agg, "total_trades") or 0)
    if redis_server.proc is None:
        redis_server.start()
    store.close()


def _monitor(redis_url: str, journal_dir: Path, **trader: object) -> TradingMonitor:
    return create_monitor({"redis": {"url": redis_url, "socket_timeout_seconds": 1},
                           "trader": {"journal_dir": str(journal_dir), "buffer_max_records": MEMORY,
                                      "batch_max_records": BATCH, "flush_interval_seconds": 0.01,
                                      "stop_timeout_seconds": 30, **trader}})


def _record_until_refused(monitor: TradingMonitor, pause: float) -> tuple[int, BackpressureError]:
    accepted, deadline = 0, time.monotonic() + 60
    while True:
        try:
            monitor.record_trade(EXAMPLE)
        except BackpressureError as exc:
            return accepted, exc
        accepted += 1
        assert time.monotonic() < deadline, "never refused"
        time.sleep(pause)


def _record_when_accepted(monitor: TradingMonitor, timeout: float = 60) -> int:
    """Record one trade, retrying while it is refused; how many attempts were refused."""
    refused, deadline = 0, time.monotonic() + timeout
    while True:
        try:
            monitor.record_trade(EXAMPLE)
            return refused
        except BackpressureError:
            refused += 1
            assert time.monotonic() < deadline, "never accepted again"
            time.sleep(0.02)


def _outage_starts(monitor: TradingMonitor, redis_server) -> int:
    """Stop Redis and record until the sender has failed once (so the outage has a start); trades recorded."""
    redis_server.stop()
    for _ in range(5):
        monitor.record_trade(EXAMPLE)
    wait_until(lambda: monitor.client.stats["send_failures"] > 0, timeout=30, message="a failed send")
    return 5


def _drain_and_count(monitor: TradingMonitor, redis_server, counted, accepted: int) -> None:
    redis_server.start()  # same port; AOF keeps what was there
    _record_when_accepted(monitor)
    accepted += 1
    for _ in range(20):  # and it keeps accepting
        _record_when_accepted(monitor)
        accepted += 1
    wait_until(lambda: counted() == accepted, timeout=60, message=f"{accepted} accepted trades counted")
    time.sleep(1.0)
    assert counted() == accepted  # exactly once: no redelivered batch counted twice, no refused trade counted
    assert monitor.client.stop() is True


def test_full_journal_refuses_records_until_the_backlog_drains(tmp_path, redis_server, redis_url, counted) -> None:
    journal = tmp_path / "journal"
    monitor = _monitor(redis_url, journal, journal_max_bytes=5000)  # about 3 batches of 10 trades
    try:
        for _ in range(20):
            monitor.record_trade(EXAMPLE)
        wait_until(lambda: counted() == 20, timeout=30, message="trades before the outage")
        accepted = 20 + _outage_starts(monitor, redis_server)

        during, refusal = _record_until_refused(monitor, pause=0.001)
        accepted += during
        text = str(refusal)
        assert "trader.journal_max_bytes=5000" in text and str(journal) in text and "is full" in text
        assert "broker has been unreachable for" in text
        assert during > MEMORY and monitor.client.stats["journal_bytes"] > 2500  # memory and journal both used
        assert sum(f.stat().st_size for f in journal.glob("journal-*.jsonl")) <= 5000
        for _ in range(3):
            with pytest.raises(BackpressureError, match="trader.journal_max_bytes"):
                monitor.record_trade(EXAMPLE)
        assert monitor.client.stats["refused"] == 4

        _drain_and_count(monitor, redis_server, counted, accepted)
        assert not list(journal.glob("journal-*.jsonl"))
    finally:
        monitor.client.stop(timeout=1)


def test_unwritable_journal_bounds_memory_and_refuses(tmp_path, redis_server, redis_url, counted) -> None:
    blocker = tmp_path / "journal-is-a-file"
    blocker.write_text("")
    monitor = _monitor(redis_url, blocker)
    try:
        for _ in range(20):
            monitor.record_trade(EXAMPLE)
        wait_until(lambda: counted() == 20, timeout=30, message="trades before the outage")
        accepted = 20 + _outage_starts(monitor, redis_server)

        during, refusal = _record_until_refused(monitor, pause=0)  # flat out: the memory bound is counted
        accepted += during
        text = str(refusal)
        assert "cannot be written" in text and str(blocker) in text and "trader.journal_max_bytes" in text
        assert "broker has been unreachable for" in text
        assert monitor.client.pending_records <= MEMORY + BATCH
        time.sleep(0.5)  # many flush intervals and a failed retry of the journal: still bounded
        with pytest.raises(BackpressureError):
            monitor.record_trade(EXAMPLE)
        assert monitor.client.pending_records <= MEMORY + BATCH
        assert monitor.client.stats["journaled_batches"] == 0

        _drain_and_count(monitor, redis_server, counted, accepted)
    finally:
        monitor.client.stop(timeout=1)
