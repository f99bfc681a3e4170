"""A trader that records at a steady rate in a thread and times every ``record_*`` call (chaos scenario 2)."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

TRADE = {"symbol": "BTC/USDT", "side": "buy", "price": 50_000.0, "quantity": 0.01, "exchange": "binance"}
TICK_SECONDS = 0.01


@dataclass
class CallStats:
    """Durations of the record_* calls (seconds), what they raised, and how many trades were recorded."""

    trades: int = 0
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.durations)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    @property
    def max(self) -> float:
        return max(self.durations, default=0.0)


class SteadyTrader:
    """Runs ``monitor.start()`` and then ``rate`` trades/s (plus a latency and a prediction every 100 trades)
    on an asyncio loop in its own thread, like a trading bot would."""

    def __init__(self, monitor: Any, rate: int) -> None:
        self.monitor = monitor
        self.per_tick = max(1, round(rate * TICK_SECONDS))
        self.stats = CallStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="steady-trader", daemon=True)

    def start(self) -> SteadyTrader:
        self._thread.start()
        return self

    def stop(self) -> CallStats:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.stats

    def _timed(self, fn: Any, *args: Any) -> None:
        stats = self.stats
        t0 = time.perf_counter()
        try:
            fn(*args)
        except Exception as exc:  # the promise under test: this never happens
            stats.errors.append(f"{type(exc).__name__}: {exc}"[:300])
        stats.durations.append(time.perf_counter() - t0)
        stats.calls += 1

    async def _main(self) -> None:
        monitor, stats = self.monitor, self.stats
        await monitor.start()  # control listener and status reporter threads too, as in a real trader
        next_tick = time.monotonic()
        while not self._stop.is_set():
            for _ in range(self.per_tick):
                self._timed(monitor.record_trade, {**TRADE, "pnl": float(stats.trades % 7 - 3)})
                stats.trades += 1
                if stats.trades % 100 == 0:
                    self._timed(monitor.record_exchange_latency, "binance", 0.05)
                    self._timed(monitor.record_agent_prediction, "momentum", {"prediction": 1, "confidence": 0.8})
            next_tick += TICK_SECONDS
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
        await asyncio.to_thread(monitor.health.stop)
