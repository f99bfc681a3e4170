"""What `graphwiz-monitoring run` prints while it runs: one line per event that matters, a summary every 30 s.

The events come from the realtime event stream (``events.publish`` on ``KeySpace.events``, the channel
the realtime server's bridge subscribes to): alert episode events (firing, resolved, stale,
acknowledged ...), recovery actions and circuit breaker transitions. Trading pause/resume publishes
no event, so the pause flag is read once a second. The supervisor adds process restarts itself.
Everything is read without blocking (``get_message(timeout=0)``), from the supervisor's one thread:
the supervisor forks its children, and a fork must not happen beside other threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from graphwiz_monitoring.alerting.records import get_active_alerts
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.events import EventType, parse_event
from graphwiz_monitoring.health.pause import trading_pause_status
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import queue_lengths

SUMMARY_SECONDS = 30.0
PAUSE_POLL_SECONDS = 1.0
RETRY_SECONDS = 5.0
MAX_TEXT_CHARS = 90


def clock(ts: float | None = None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def _short(text: Any, limit: int = MAX_TEXT_CHARS) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def event_line(event: dict[str, Any]) -> str | None:
    """The console line of one realtime event, or None for the kinds the console leaves out (trades, metrics, health)."""
    data = event.get("data") or {}
    kind = event.get("type")
    if kind == EventType.ALERT.value:
        what = str(data.get("event") or "changed")
        title = data.get("title") or data.get("message") or ""
        return (f"alert {what:<9} {str(data.get('severity') or ''):<8} {data.get('rule_name') or '-'}: "
                f"{_short(title)}  [{str(data.get('alert_id') or '')[:12]}]")
    if kind == EventType.RECOVERY.value:
        targets = ",".join(str(t) for t in data.get("targets") or [])
        return (f"recovery {data.get('action')} for {data.get('check')}: {data.get('outcome')}"
                f"{' on ' + targets if targets else ''}  {_short(data.get('reason'), 60)}")
    if kind == EventType.BREAKER.value:
        return f"breaker {data.get('name')}: {data.get('from')} -> {data.get('to')} ({data.get('failures')} failures)"
    return None


class RunConsole:
    """Polled by the supervisor's loop: ``poll(say)`` prints what happened since the last call."""

    def __init__(self, store: Store, keys: KeySpace, summary_seconds: float = SUMMARY_SECONDS) -> None:
        self.store, self.keys = store, keys
        self.summary_seconds = summary_seconds
        self._pubsub: Any = None
        self._retry_at = 0.0
        self._next_summary = time.monotonic() + summary_seconds
        self._next_pause_check = 0.0
        self._paused: bool | None = None
        self._last_count: tuple[float, int] | None = None

    def poll(self, say: Callable[[str], None]) -> None:
        now = time.monotonic()
        try:
            if self._last_count is None:  # the first summary's rate counts from here
                self._last_count = (now, self._trades()[0])
            self._read_events(say, now)
            if now >= self._next_pause_check:
                self._next_pause_check = now + PAUSE_POLL_SECONDS
                self._check_pause(say)
            if now >= self._next_summary:
                self._next_summary = now + self.summary_seconds
                say(self.summary_line())
        except StateError:
            self._drop(now)

    def _read_events(self, say: Callable[[str], None], now: float) -> None:
        if self._pubsub is None:
            if now < self._retry_at:
                return
            pubsub = self.store.r.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(self.keys.events)
            self._pubsub = pubsub
        for _ in range(1000):  # bounded: a flood of trade events must not starve the supervisor's loop
            message = self._pubsub.get_message(timeout=0)
            if message is None:
                return
            if message.get("type") == "message":
                event = parse_event(message["data"])
                line = event_line(event) if event else None
                if line:
                    say(line)

    def _drop(self, now: float) -> None:
        if self._pubsub is not None:
            try:
                self._pubsub.close()
            except StateError:
                pass
        self._pubsub, self._retry_at = None, now + RETRY_SECONDS

    def _check_pause(self, say: Callable[[str], None]) -> None:
        status = trading_pause_status(self.store, self.keys)
        paused = bool(status["paused"])
        if self._paused is not None and paused != self._paused:
            if paused:
                say(f"trading PAUSED by {status.get('by') or '?'}: {_short(status.get('reason'), 60)}")
            else:
                say("trading resumed")
        self._paused = paused

    def _trades(self) -> tuple[int, float]:
        agg = self.store.r.hmget(self.keys.trading_agg, ["total_trades", "pnl_total"])
        return int(float(agg[0] or 0)), float(agg[1] or 0.0)

    def summary_line(self) -> str:
        """``summary: 2,000 trades/s · P&L +12.50 USD · 1 active alert · queues 0 waiting · trading running``."""
        count, pnl = self._trades()
        now = time.monotonic()
        rate = 0.0
        if self._last_count is not None and now > self._last_count[0]:
            rate = max(0, count - self._last_count[1]) / (now - self._last_count[0])
        self._last_count = (now, count)
        active = len(get_active_alerts(self.store, self.keys))
        waiting = sum(queue_lengths(self.store).values())
        state = "PAUSED" if self._paused else "running"
        return (f"summary: {rate:,.0f} trades/s · P&L {pnl:+,.2f} USD · {active} active alert{'s' * (active != 1)}"
                f" · queues {waiting:,} waiting · trading {state}")

    def close(self) -> None:
        self._drop(time.monotonic())
