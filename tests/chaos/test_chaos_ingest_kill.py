"""Scenario 1 of issue 7, ingest half: kill -9 of pool children while they write trader batches.

A real ``TradingMonitor`` (``create_monitor`` on the test Redis) records 20,000 trades in four
waves of 5,000 (plus 500 more whenever a wave was through before a busy child was seen); the client ships them as batches of 1,000 to a worker with two pool processes.
While each wave is being ingested, a pool child that is on the CPU (i.e. in the middle of a batch)
is killed with SIGKILL. The batch is requeued (``task_reject_on_worker_lost``) and written
again; ``ingest.lua`` ignores a batch or trade id it has already stored, so the counted total must
be exactly the number recorded and the P&L sum exact.

Reproduce: ``.venv/bin/pytest tests/chaos/test_chaos_ingest_kill.py -s`` (figures are printed as a
``SCENARIO1 C`` line and published in docs/RELIABILITY.md).
"""

from __future__ import annotations

import json
import re
import time

import pytest

from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.trader.monitor import create_monitor
from tests.conftest import wait_until
from tests.fakes.pool_kill import busy_child, kill9, wait_replaced
from tests.fakes.queues import broker_idle

pytestmark = [pytest.mark.chaos, pytest.mark.e2e]

CONCURRENCY = 2
KILLS, WAVE, EXTRA, BATCH_RECORDS = 4, 5_000, 500, 1000
TRADE = {"symbol": "BTC/USDT", "side": "buy", "price": 50_000.0, "quantity": 0.01}
LOST_RE = re.compile(r"WorkerLostError\('Worker exited prematurely: signal 9")


def pnl(n: int) -> float:
    return float(n % 7 - 3)


@pytest.mark.timeout(120)
def test_kill9_of_pool_children_mid_batch(celery_processes, redis_url, tmp_path):
    worker = celery_processes("worker", "-Q", "ingest", "-c", str(CONCURRENCY), "--loglevel", "INFO",
                              "--without-mingle", "--without-gossip")
    monitor = create_monitor({"redis": {"url": redis_url},
                              "trader": {"journal_dir": str(tmp_path / "journal"), "batch_max_records": BATCH_RECORDS,
                                         "flush_interval_seconds": 0.01, "heartbeat_interval_seconds": 60,
                                         "host_metrics_interval_seconds": 600}})
    store, keys = Store(redis_url), KeySpace()
    total = lambda: int(store.r.hget(keys.trading_agg, "total_trades") or 0)  # noqa: E731
    try:
        started, recorded = time.monotonic(), 0

        def record(count: int) -> None:
            nonlocal recorded
            for n in range(recorded, recorded + count):
                monitor.record_trade({**TRADE, "pnl": pnl(n)})
            recorded += count

        for _ in range(KILLS):  # a wave makes a backlog; a child working on it is killed
            record(WAVE)
            victim = busy_child(worker.proc.pid)
            while victim is None:  # the wave went through before we looked: add a little more
                record(EXTRA)
                victim = busy_child(worker.proc.pid)
            kill9(victim.pid)
            wait_replaced(worker.proc.pid, victim.pid, CONCURRENCY)
        assert monitor.flush(timeout=60), "the trader did not ship everything"
        wait_until(lambda: total() >= recorded and broker_idle(store.r, "ingest"), timeout=60, interval=0.1,
                   message="every trade counted and nothing left in the broker")
        elapsed = time.monotonic() - started
        time.sleep(1.0)  # a late redelivery would be counted now
        agg = store.r.hgetall(keys.trading_agg)
        output = worker.output()
        figures = {"recorded": recorded, "batches": monitor.client.stats["batches_sent"], "kills": KILLS,
                   "batches_lost_with_their_process": len(LOST_RE.findall(output)),
                   "redelivered_duplicates_ignored": output.count("'duplicate': True"),
                   "counted": int(agg.get("total_trades", 0)), "trade_ids": store.r.zcard(keys.trade_ids),
                   "pnl_total": float(agg.get("pnl_total", 0)), "elapsed_s": round(elapsed, 1)}
        print("\nSCENARIO1 C (pool child killed mid-batch):", json.dumps(figures))
    finally:
        monitor.client.stop(timeout=1)
        store.close()

    assert figures["batches_lost_with_their_process"] >= 1, figures  # at least one kill hit a batch mid-write
    assert figures["counted"] == recorded and figures["trade_ids"] == recorded, figures
    assert figures["pnl_total"] == pytest.approx(sum(pnl(n) for n in range(recorded)), abs=1e-6), figures
