"""A trader killed with -9 during a Redis outage loses nothing it accepted more than journal_sync_seconds ago.

Real processes: a trader process (tests/fakes/recording_trader.py) delivers some trades, then records
5,000 while its private Redis is stopped and keeps recording one trade every ~2 ms; it is SIGKILLed
``trader.journal_sync_seconds`` (+ a margin) after the 5,000 were accepted. Redis, an ingest worker and a
new client on the same journal_dir come back: every trade is counted exactly once, and the trades that
were lost (if any) were all accepted within ``journal_sync_seconds`` of the kill.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.metrics.history import read_trades
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.trader.monitor import create_monitor
from tests.conftest import ROOT, child_env, wait_until, write_config

pytestmark = pytest.mark.e2e

BEFORE, BURST = 100, 5000
SYNC_SECONDS = parse_settings({}, env={}).trader.journal_sync_seconds  # the default promise is tested
MARGIN_SECONDS = 0.5
INGEST_WORKER = ("worker", "-Q", "ingest", "-c", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle")


def _start_trader(tmp_path: Path, redis_url: str, journal: Path) -> subprocess.Popen[bytes]:
    config = write_config(tmp_path / "trader.yaml", redis_url,
                          f"trader:\n  journal_dir: {journal}\nmonitoring:\n  enable_prometheus: false\n")
    log = open(tmp_path / "trader.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.recording_trader", str(config), str(tmp_path),
                             str(BEFORE), str(BURST)], cwd=str(ROOT),
                            env=child_env(config, redis_url, tmp_path / "state"), stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def test_trader_killed_9_during_a_redis_outage_loses_nothing_older_than_journal_sync_seconds(
        tmp_path, redis_server, redis_url, celery_processes) -> None:
    journal = tmp_path / "journal"
    trader = _start_trader(tmp_path, redis_url, journal)
    output = lambda: (tmp_path / "trader.log").read_text(errors="replace")[-3000:]  # noqa: E731
    store, keys = Store(redis_url), KeySpace()
    successor = None
    try:
        wait_until(lambda: (tmp_path / "ready").exists() or trader.poll() is not None, timeout=60,
                   message="the trader delivered its first trades")
        assert trader.poll() is None, output()

        redis_server.stop()
        (tmp_path / "go").touch()
        wait_until(lambda: (tmp_path / "done").exists() or trader.poll() is not None, timeout=60,
                   message=f"{BURST} trades accepted during the outage")
        assert trader.poll() is None, output()
        accepted_at = float((tmp_path / "done").read_text())
        # The promise is a deadline: the trader must have journaled everything by then, whatever it is doing.
        time.sleep(max(0.0, accepted_at + SYNC_SECONDS + MARGIN_SECONDS - time.time()))
        killed_at = time.time()
        trader.kill()
        trader.wait(timeout=10)

        redis_server.start()  # same port; AOF keeps the batches delivered before the outage
        celery_processes(*INGEST_WORKER)
        successor = create_monitor({"redis": {"url": redis_url}, "trader": {"journal_dir": str(journal)}})
        successor.client.start()  # adopts the dead trader's journal
        total = lambda: int(store.r.hget(keys.trading_agg, "total_trades") or 0)  # noqa: E731
        wait_until(lambda: total() >= BEFORE + BURST, timeout=60,
                   message=f"the {BEFORE + BURST} trades accepted long before the kill counted (have {total()})\n"
                           + output())
        assert successor.client.stop() is True  # everything it sent was recorded by the worker
        wait_until(lambda: store.r.llen("ingest") == 0, timeout=30, message="the ingest queue drained")

        trades = read_trades(store, keys, since=0)
        ids = [t["trade_id"] for t in trades]
        assert len(ids) == len(set(ids)) == total(), "a trade was counted twice"
        assert {f"before-{i}" for i in range(BEFORE)} <= set(ids)
        assert {f"burst-{i}" for i in range(BURST)} <= set(ids)
        trickle = sorted(int(t["trade_id"].split("-")[1]) for t in trades if t["trade_id"].startswith("trickle-"))
        assert trickle == list(range(len(trickle))), "a gap: a trade was lost while later ones were kept"
        assert trickle, "none of the trades accepted in the last journal_sync_seconds+margin arrived"
        last_kept = max(t["timestamp"] for t in trades if t["trade_id"] == f"trickle-{trickle[-1]}")
        loss_window = killed_at - last_kept
        print(f"kill -9 during the outage: {len(trickle)} trickle trades kept, the newest accepted "
              f"{loss_window * 1000:.0f} ms before the kill (journal_sync_seconds={SYNC_SECONDS})")
        assert loss_window <= SYNC_SECONDS, f"lost what was accepted {loss_window:.3f} s before the kill"
    finally:
        if trader.poll() is None:
            trader.kill()
            trader.wait(timeout=10)
        if redis_server.proc is None:
            redis_server.start()
        if successor is not None:
            successor.client.stop(timeout=1)
        store.close()
