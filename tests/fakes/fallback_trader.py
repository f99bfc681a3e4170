"""A trader process for the fallback e2e (tests/e2e/test_trader_fallback.py): records a trade about every
50 ms until SIGTERM, then stops its monitor. Only ``record_trade`` is used: the client's own threads
(batcher, sender, fallback) are what is tested.

    python -m tests.fakes.fallback_trader CONFIG
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from graphwiz_monitoring.config import load_settings
from graphwiz_monitoring.trader.monitor import create_monitor

TRADE = {"symbol": "BTC/USDT", "side": "buy", "price": 50000.0, "quantity": 0.1, "pnl": 1.0, "success": True}


def main(config: str) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    monitor = create_monitor(load_settings(config))
    while not stop.wait(0.05):
        monitor.record_trade(TRADE)
    monitor.client.stop(timeout=1)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(levelname)s %(name)s: %(message)s")
    main(sys.argv[1])
