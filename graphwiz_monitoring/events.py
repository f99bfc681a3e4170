"""Typed realtime events, published on Redis pub/sub and streamed to WebSocket clients.

Wire format: ``{"type": <EventType>, "data": {...}, "timestamp": ISO-8601 UTC}``. The realtime server
adds its own message types (``SNAPSHOT``, ``SUBSCRIBED``, ``ERROR``) in the same envelope; those are
never published on Redis.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypedDict

from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.state import KeySpace, Store


class EventType(str, Enum):
    METRICS = "metrics"
    ALERT = "alert"
    HEALTH = "health"
    TRADE = "trade"
    BREAKER = "breaker"
    RECOVERY = "recovery"


class AlertEvent(TypedDict, total=False):
    """An alert episode changed: ``event`` (firing | resolved | manual ...) plus the Alert record."""

    event: str
    alert_id: str
    rule_name: str
    title: str
    message: str
    severity: str
    channels: list[str]
    labels: dict[str, str]
    metadata: dict[str, Any]
    fingerprint: str
    state: str
    created_at: float
    resolved_at: float | None
    acknowledged_by: str | None  # issue 14: an ack in force (alerting/acks.py), else None
    acknowledged_at: float | None
    ack_comment: str | None
    ack_expires_at: float | None
    acknowledged: bool


class HealthEvent(TypedDict):
    """One health check ran; ``changed`` when its judged status changed."""

    check: str
    status: str
    message: str
    previous: str | None
    changed: bool
    timestamp: float
    breaker: Any
    recovery_attempted: bool


# "from" is a keyword: the functional form.
BreakerEvent = TypedDict("BreakerEvent", {"name": str, "from": str, "to": str, "state": str, "failures": int,
                                          "cause": str, "error": str})


class RecoveryEvent(TypedDict, total=False):
    """One recovery attempt recorded (health/recovery.py RecoveryAttempt)."""

    attempt_id: str
    recovery_id: str
    check: str
    action: str
    outcome: str
    reason: str
    targets: list[str]
    details: dict[str, Any]
    started_at: float
    duration_seconds: float
    traders: dict[str, Any]


class TradeEvent(TypedDict):
    """A batch with new trades was ingested (metrics/ingest.py IngestResult.summary)."""

    batch_id: str | None
    duplicate: bool
    accepted: dict[str, int]
    rejected: int
    trades: int
    duplicate_trades: int
    successful: int
    failed: int
    pnl_usd: float


class MetricsEvent(TypedDict, total=False):
    """Metrics changed: after an ingest (``source``, ``batch_id``, ``accepted``) or a full snapshot
    from the metrics beat task (its sections: ``trading``, ``exchanges``, ``system`` ...)."""

    source: str
    batch_id: str | None
    accepted: dict[str, int]
    trading: dict[str, Any]
    exchanges: dict[str, Any]
    agents: dict[str, Any]
    risk: dict[str, Any]
    portfolio: dict[str, Any]
    system: dict[str, Any]
    trader: dict[str, Any]
    neo4j: dict[str, Any]
    # Only in the realtime server's own pushes to its clients (never published on Redis): each active
    # alert's value now ({alert_id: value}) and, when they changed, the last 20 trades (newest first).
    alert_values: dict[str, float]
    recent_trades: list[dict[str, Any]]


EventPayload = AlertEvent | HealthEvent | BreakerEvent | RecoveryEvent | TradeEvent | MetricsEvent
# The payload type of each event type (what the realtime server, the status page and the CLI read).
PAYLOAD_TYPES: dict[EventType, type] = {
    EventType.ALERT: AlertEvent, EventType.HEALTH: HealthEvent, EventType.BREAKER: BreakerEvent,
    EventType.RECOVERY: RecoveryEvent, EventType.TRADE: TradeEvent, EventType.METRICS: MetricsEvent,
}

# Server-to-client messages that are not events (same envelope, never published on Redis).
SNAPSHOT = "snapshot"
SUBSCRIBED = "subscribed"
ERROR = "error"

EVENT_TYPES = frozenset(t.value for t in EventType)


def make_event(event_type: EventType, data: EventPayload, at: float | None = None) -> dict[str, Any]:
    when = datetime.fromtimestamp(at, UTC) if at is not None else datetime.now(UTC)
    return {"type": EventType(event_type).value, "data": data, "timestamp": when.isoformat()}


def publish(store: Store, keys: KeySpace, event_type: EventType, data: EventPayload) -> None:
    """Best effort: a realtime event must never break the work that caused it."""
    try:
        store.r.publish(keys.events, json.dumps(make_event(event_type, data), default=str))
    except StateError:
        pass


def make_message(kind: str, data: dict[str, Any]) -> str:
    """A server-to-client message (event or SNAPSHOT/SUBSCRIBED/ERROR) as JSON text."""
    when = datetime.now(UTC).isoformat()
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
