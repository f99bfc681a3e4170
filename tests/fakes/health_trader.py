"""A small trader process for e2e tests: the real TradingMonitor over plain objects steered by a file.

    python -m tests.fakes.health_trader CONFIG STATE_JSON CALLS_JSONL STATUS_JSON

The objects read their state from STATE_JSON on every call (the test edits it), every call they get
is appended to CALLS_JSONL with this pid, and STATUS_JSON is rewritten every 0.1 s with what the
monitor says (``is_trading_paused()``), so the test sees this process's own view. SIGTERM stops it
cleanly; SIGKILL plays a crashed trader.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from graphwiz_monitoring.config import load_settings
from graphwiz_monitoring.errors import GraphwizError
from graphwiz_monitoring.trader.monitor import create_monitor
from tests.fakes.trader_world import World, dependencies


async def main(config: str, state_path: str, calls_path: str, status_path: str) -> None:
    monitor = create_monitor(load_settings(config))
    monitor.set_dependencies(**dependencies(World(state_path=state_path, calls_path=calls_path)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await monitor.start()
    try:
        while not stop.is_set():
            try:
                status = {"pid": os.getpid(), "paused": monitor.is_trading_paused()}
            except GraphwizError as exc:  # Redis restarting
                status = {"pid": os.getpid(), "paused": None, "error": str(exc)}
            tmp = f"{status_path}.tmp"
            Path(tmp).write_text(json.dumps(status))
            os.replace(tmp, status_path)
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except TimeoutError:
                pass
    finally:
        await monitor.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(*sys.argv[1:5]))
