"""The description's Basic Usage as a real trader process, for the tests of what its config keys serve.

    python -m tests.fakes.serving_trader CONFIG_JSON WORKDIR [PORTFOLIO_JSON]

CONFIG_JSON is the ``create_monitor`` dict (the description's ``{'monitoring': {'prometheus_port': ...,
'enable_prometheus': True}}`` plus the test's Redis, ports and journal). The process runs the Basic
Usage body and reports each step as one JSON line in WORKDIR/events.jsonl:

1. ``started``: after ``await monitor.start()``, with how long start() took;
2. ``recorded``: after the example's trade, prediction and manual alert (and ``update_portfolio_metrics``
   of PORTFOLIO_JSON when given), once they reached the broker;
3. waits for the line ``stop`` on stdin (the example's "keep running"), then ``await monitor.stop()``
   and reports ``stopped``; the process stays alive until stdin closes, so a test can see what stop()
   itself closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path

from graphwiz_monitoring import AlertSeverity, create_monitor


def _report(workdir: Path, event: str, **data: object) -> None:
    with open(workdir / "events.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"event": event, **data}) + "\n")


async def main(config: dict, workdir: Path, portfolio: dict | None = None) -> None:
    monitor = create_monitor(config)
    monitor.set_dependencies(exchange_manager=object(), neo4j_graph=object(), trading_engine=object(),
                             agent_manager=object())
    began = time.perf_counter()
    await monitor.start()
    _report(workdir, "started", start_seconds=time.perf_counter() - began)
    try:
        trade_id = monitor.record_trade({'symbol': 'BTC/USDT', 'side': 'buy', 'price': 50000, 'quantity': 0.1,
                                         'pnl': 150.50, 'success': True})
        monitor.record_agent_prediction('momentum_agent', {'prediction': 1, 'confidence': 0.85,
                                                           'symbol': 'BTC/USDT'})
        monitor.create_manual_alert(title="Custom Alert", message="Something happened",
                                    severity=AlertSeverity.WARNING)
        if portfolio is not None:
            monitor.update_portfolio_metrics(portfolio)
        delivered = await asyncio.to_thread(monitor.flush, 30)
        _report(workdir, "recorded", trade_id=trade_id, delivered=delivered)
        while (await asyncio.to_thread(sys.stdin.readline)).strip() not in ("stop", ""):
            pass
    finally:
        await monitor.stop()
    _report(workdir, "stopped")
    await asyncio.to_thread(sys.stdin.read)  # until the test closes stdin


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]),
                     json.loads(sys.argv[3]) if len(sys.argv) > 3 else None))
