"""DEMO ONLY: a synthetic trader feed through the public API (`graphwiz-monitoring run --demo`).

It is clearly labelled (strategy "demo", exchange "demo-exchange", log lines prefixed DEMO) and shows a
newcomer metrics moving and, within a minute, a drawdown alert on the log channel: it trades at a
small profit, then runs a losing streak that pushes drawdown past the large_loss threshold (10%),
then recovers, and repeats.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal

from graphwiz_monitoring import create_monitor
from graphwiz_monitoring.config import load_settings

log = logging.getLogger("graphwiz_monitoring.cli.demo")

DEMO_CAPITAL_USD = 100_000.0
TICK_SECONDS = 0.5
CYCLE_TICKS = 160  # 80 s: 10 s winning, 15 s losing streak (drawdown > 10%), 55 s recovering


def _pnl_for_tick(tick: int, rng: random.Random) -> float:
    phase = tick % CYCLE_TICKS
    if phase < 20:
        return rng.uniform(20, 80)
    if phase < 50:
        return -rng.uniform(500, 700)  # 30 losing trades of ~600 USD: about 15% below the peak
    return rng.uniform(120, 240)


async def feed(stop: asyncio.Event, seed: int = 7) -> None:
    rng = random.Random(seed)
    settings = load_settings()
    # `run` serves /metrics and the stream itself; a feed serving them too would race its servers for the ports.
    monitor = create_monitor(settings.model_copy(update={"monitoring": settings.monitoring.model_copy(
        update={"enable_prometheus": False, "enable_realtime": False})}))
    await monitor.start()
    log.warning("DEMO: synthetic trader feed started — these are NOT real trades")
    equity, price, tick = DEMO_CAPITAL_USD, 50_000.0, 0
    try:
        while not stop.is_set():
            pnl = _pnl_for_tick(tick, rng)
            equity += pnl
            price *= 1 + rng.gauss(0, 0.001)
            monitor.record_trade({
                "symbol": "BTC/USDT", "side": rng.choice(["buy", "sell"]), "price": round(price, 2),
                "quantity": 0.1, "pnl": round(pnl, 2), "success": rng.random() > 0.02,
                "exchange": "demo-exchange", "strategy": "demo", "execution_time": rng.uniform(0.02, 0.3),
            })
            monitor.record_exchange_latency("demo-exchange", rng.lognormvariate(-2.5, 0.5))
            monitor.update_exchange_status("demo-exchange", True, rate_limit_remaining=rng.randint(200, 1200))
            monitor.record_agent_prediction("demo_momentum_agent", {
                "prediction": rng.choice([1, -1]), "confidence": rng.uniform(0.5, 0.95), "symbol": "BTC/USDT",
            }, actual_outcome=rng.choice([1, -1]))
            position_value = 0.1 * price
            monitor.update_portfolio_metrics({
                "value": round(equity, 2), "cash": round(equity - position_value, 2),
                "positions": [{"symbol": "BTC/USDT", "quantity": 0.1, "price": round(price, 2),
                               "value": round(position_value, 2)}],
            })
            tick += 1
            try:
                await asyncio.wait_for(stop.wait(), TICK_SECONDS)
            except TimeoutError:
                pass
    finally:
        await monitor.stop()
        log.warning("DEMO: synthetic trader feed stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await feed(stop)

    asyncio.run(runner())


if __name__ == "__main__":
    main()
