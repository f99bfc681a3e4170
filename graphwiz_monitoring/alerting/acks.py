"""Acknowledgements: someone answers an active alert ("I am on it"), shared by every process through Redis.

An ack belongs to one alert id, i.e. one episode (docs/ALERTS.md "Acknowledge"). While it is in force the
episode neither repeats nor escalates (alert_fire.lua, alert_escalate.lua read ``ack_id``/``ack_until`` in
its lifecycle state hash); it ends when the ack's ``for_seconds`` run out (on the Redis clock), when
someone takes it back (``unacknowledge``), or when the episode's severity rises above the highest it had
reached (alert_fire.lua breaks it). A resolution ends the episode and with it the ack; a new episode
starts unacknowledged. The state hash holds the decision fields, the ack hash ``KeySpace.alert_ack``
who/when/why for display (it expires with the ack); one Lua script writes both (alert_ack.lua).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphwiz_monitoring.alerting.models import Alert
from graphwiz_monitoring.state import KeySpace, Store

MAX_BY_LENGTH = 200
MAX_COMMENT_LENGTH = 1000


@dataclass(frozen=True)
class Ack:
    """One acknowledgement in force: who, when (Redis clock), why, until when (None: no expiry)."""

    by: str
    at: float
    comment: str | None = None
    expires_at: float | None = None


def validate(by: Any, comment: Any, for_seconds: Any) -> tuple[str, str | None, float | None]:
    """The ack's inputs checked: ValueError naming the field and value otherwise."""
    if not isinstance(by, str) or not by.strip() or len(by) > MAX_BY_LENGTH:
        raise ValueError(f"by: expected a non-empty name of at most {MAX_BY_LENGTH} characters, got {by!r:.80}")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT_LENGTH):
        raise ValueError(f"comment: expected text of at most {MAX_COMMENT_LENGTH} characters, got {comment!r:.80}")
    if for_seconds is not None:
        if isinstance(for_seconds, bool) or not isinstance(for_seconds, (int, float)) \
                or not math.isfinite(for_seconds) or for_seconds <= 0:
            raise ValueError(f"for_seconds: expected a positive number of seconds, got {for_seconds!r}")
        for_seconds = float(for_seconds)
    return by.strip(), (comment or None), for_seconds


def acknowledge(store: Store, keys: KeySpace, alert: Alert, by: str, comment: str | None,
                for_seconds: float | None, ttl_seconds: int) -> Ack | None:
    """Acknowledge ``alert`` if it is its (rule, fingerprint)'s open alert now; None when it is not."""
    member = f"{alert.rule_name}|{alert.fingerprint}"
    outcome, now, until = store.run_script(
        "alert_ack", [keys.alert_state(alert.rule_name, alert.fingerprint), keys.alerts_active,
                      keys.alert_ack(alert.alert_id), keys.alerts_escalation],
        [member, alert.alert_id, by, comment or "", for_seconds or 0, max(1, int(ttl_seconds))],
        durable=True)  # an ack lost at a failover would page the people who answered
    if outcome != "acked":
        return None
    return Ack(by=by, at=float(now), comment=comment, expires_at=float(until) if until else None)


def unacknowledge(store: Store, keys: KeySpace, alert: Alert) -> bool:
    """Take back ``alert``'s ack (repeats and escalation go on at once); True when one was in force."""
    return bool(store.run_script(
        "alert_unack", [keys.alert_state(alert.rule_name, alert.fingerprint), keys.alert_ack(alert.alert_id),
                        keys.alerts_escalation], [f"{alert.rule_name}|{alert.fingerprint}", alert.alert_id],
        durable=True))


def parse(raw: Mapping[str, str] | None) -> Ack | None:
    """An ``alert_ack`` hash as read from Redis (None when absent or unreadable)."""
    if not raw or not raw.get("by"):
        return None
    try:
        return Ack(by=raw["by"], at=float(raw.get("at") or 0), comment=raw.get("comment") or None,
                   expires_at=float(raw["until"]) if raw.get("until") else None)
    except ValueError:
        return None


def apply(alert: Alert, ack: Ack | None) -> Alert:
    """Set ``alert``'s ack fields from ``ack`` (cleared when None: the record's own copy may be stale)."""
    alert.acknowledged_by = ack.by if ack else None
    alert.acknowledged_at = ack.at if ack else None
    alert.ack_comment = ack.comment if ack else None
    alert.ack_expires_at = ack.expires_at if ack else None
    return alert
