"""Typed realtime events, published on Redis pub/sub and streamed to WebSocket clients.

Wire format: ``{"type": <EventType>, "data": {...}, "timestamp": ISO-8601 UTC}``. The realtime server
adds its own message types (``SNAPSHOT``, ``SUBSCRIBED``, ``ERROR``) in the same envelope; those are
never published on Redis.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.state import KeySpace, Store


class EventType(str, Enum):
    METRICS = "metrics"
    ALERT = "alert"
    HEALTH = "health"
    TRADE = "trade"
    BREAKER = "breaker"
    RECOVERY = "recovery"


# Server-to-client messages that are not events (same envelope, never published on Redis).
SNAPSHOT = "snapshot"
SUBSCRIBED = "subscribed"
ERROR = "error"

EVENT_TYPES = frozenset(t.value for t in EventType)


def make_event(event_type: EventType, data: dict[str, Any], at: float | None = None) -> dict[str, Any]:
    when = datetime.fromtimestamp(at, timezone.utc) if at is not None else datetime.now(timezone.utc)
    return {"type": EventType(event_type).value, "data": data, "timestamp": when.isoformat()}


def publish(store: Store, keys: KeySpace, event_type: EventType, data: dict[str, Any]) -> None:
    """Best effort: a realtime event must never break the work that caused it."""
    try:
        store.r.publish(keys.events, json.dumps(make_event(event_type, data), default=str))
    except StateError:
        pass


def make_message(kind: str, data: dict[str, Any]) -> str:
    """A server-to-client message (event or SNAPSHOT/SUBSCRIBED/ERROR) as JSON text."""
    when = datetime.now(timezone.utc).isoformat()
    return json.dumps({"type": kind, "data": data, "timestamp": when}, default=str)


def parse_event(raw: str | bytes) -> dict[str, Any] | None:
    """The event in a pub/sub payload, or None when it is not a well-formed event (never raises)."""
    try:
        event = json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        return None
    if (not isinstance(event, dict) or event.get("type") not in EVENT_TYPES
            or not isinstance(event.get("data"), dict) or not isinstance(event.get("timestamp"), str)):
        return None
    return event
