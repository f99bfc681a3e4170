"""Typed realtime events, published on Redis pub/sub and streamed to WebSocket clients.

Wire format: ``{"type": <EventType>, "data": {...}, "timestamp": ISO-8601 UTC}``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from ..errors import StateError
from ..state import KeySpace, Store


class EventType(str, Enum):
    METRICS = "metrics"
    ALERT = "alert"
    HEALTH = "health"
    TRADE = "trade"
    BREAKER = "breaker"
    RECOVERY = "recovery"


def make_event(event_type: EventType, data: dict[str, Any], at: float | None = None) -> dict[str, Any]:
    when = datetime.fromtimestamp(at, timezone.utc) if at is not None else datetime.now(timezone.utc)
    return {"type": EventType(event_type).value, "data": data, "timestamp": when.isoformat()}


def publish(store: Store, keys: KeySpace, event_type: EventType, data: dict[str, Any]) -> None:
    """Best effort: a realtime event must never break the work that caused it."""
    try:
        store.r.publish(keys.events, json.dumps(make_event(event_type, data), default=str))
    except StateError:
        pass
