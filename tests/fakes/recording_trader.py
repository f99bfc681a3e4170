"""A trader process that records trades for e2e tests of the shipping client (a real OS process to SIGKILL).

    python -m tests.fakes.recording_trader CONFIG WORKDIR BEFORE BURST

1. records BEFORE trades (ids ``before-<i>``), waits until the client has delivered them to the broker,
   writes WORKDIR/ready;
2. waits for WORKDIR/go (the test stops Redis first), records BURST trades (ids ``burst-<i>``), writes
   WORKDIR/done;
3. then records one trade about every 2 ms (ids ``trickle-<i>``, ``timestamp`` = the time it was
   accepted) until it is killed: the test reads the timestamps back to measure how much a kill -9 loses.

Only ``record_trade`` is used (no ``monitor.start()``): the client's own threads are what is tested.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from graphwiz_monitoring.config import load_settings
from graphwiz_monitoring.trader.monitor import create_monitor

TRADE = {"symbol": "BTC/USDT", "side": "buy", "price": 50000.0, "quantity": 0.1, "pnl": 1.0, "success": True}
TRICKLE_PAUSE_SECONDS = 0.002


def _touch(path: Path, text: str = "") -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(config: str, workdir: str, before: int, burst: int) -> None:
    work = Path(workdir)
    monitor = create_monitor(load_settings(config))
    for i in range(before):
        monitor.record_trade({**TRADE, "trade_id": f"before-{i}"})
    if not monitor.client.flush(timeout=60):
        raise SystemExit("the trades before the outage were not delivered")
    _touch(work / "ready")
    while not (work / "go").exists():
        time.sleep(0.01)
    for i in range(burst):
        monitor.record_trade({**TRADE, "trade_id": f"burst-{i}"})
    _touch(work / "done", repr(time.time()))
    i = 0
    while True:
        monitor.record_trade({**TRADE, "trade_id": f"trickle-{i}", "timestamp": time.time()})
        i += 1
        time.sleep(TRICKLE_PAUSE_SECONDS)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(levelname)s %(name)s: %(message)s")
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
