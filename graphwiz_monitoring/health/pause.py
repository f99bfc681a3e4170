"""The persistent trading-paused flag (``KeySpace.trading_paused``, no TTL: it survives restarts of the
trader and of Redis with AOF on). Set by the ``pause_trading`` recovery action and by
``graphwiz-monitoring trading pause``; only an explicit resume clears it. The trader's own loop should
consult ``TradingMonitor.is_trading_paused()``; the monitor also calls ``trading_engine.pause()``.
"""

from __future__ import annotations

import time
from typing import Any

from graphwiz_monitoring.state import KeySpace, Store


def set_trading_paused(store: Store, keys: KeySpace, paused: bool, *, reason: str = "", by: str = "") -> dict[str, Any]:
    """Set or clear the flag; returns the new status."""
    pipe = store.r.pipeline(transaction=True)
    pipe.hset(keys.trading_paused, mapping={"paused": "1" if paused else "0", "reason": reason[:500],
                                            "by": by[:200], "since": repr(time.time())})
    pipe.persist(keys.trading_paused)  # deliberate: a pause must never lapse by itself
    pipe.execute()
    return trading_pause_status(store, keys)


def trading_pause_status(store: Store, keys: KeySpace) -> dict[str, Any]:
    raw = store.r.hgetall(keys.trading_paused) or {}
    since = raw.get("since")
    return {"paused": raw.get("paused") == "1", "reason": raw.get("reason", ""), "by": raw.get("by", ""),
            "since": float(since) if since else None}


def is_trading_paused(store: Store, keys: KeySpace) -> bool:
    return store.r.hget(keys.trading_paused, "paused") == "1"
