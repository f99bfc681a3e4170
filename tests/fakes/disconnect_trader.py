"""A real trader process that reports one exchange disconnected, then exits when stdin closes.

    python -m tests.fakes.disconnect_trader CONFIG_JSON WORKDIR EXCHANGE

CONFIG_JSON is the ``create_monitor`` dict (the test's Redis, ``trader.name``, a short heartbeat interval).
After ``await monitor.start()`` it calls ``update_exchange_status(EXCHANGE, False)``, waits until the record
reached the broker and writes ``reported`` to WORKDIR/events.jsonl; it keeps heartbeating until stdin
closes, then ``await monitor.stop()`` and exits (a trader that stopped reporting).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

from graphwiz_monitoring import create_monitor


async def main(config: dict, workdir: Path, exchange: str) -> None:
    monitor = create_monitor(config)
    await monitor.start()
    try:
        monitor.update_exchange_status(exchange, False)
        delivered = await asyncio.to_thread(monitor.flush, 30)
        with open(workdir / "events.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": "reported", "delivered": delivered}) + "\n")
        await asyncio.to_thread(sys.stdin.read)  # until the test closes stdin
    finally:
        await monitor.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]), sys.argv[3]))
