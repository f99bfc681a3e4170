"""Alert data model: severities, channels, the Alert record (names from the original description)."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from graphwiz_monitoring.vocabulary import AlertChannel, AlertSeverity

__all__ = ["DEFAULT_COOLDOWN_SECONDS", "Alert", "AlertChannel", "AlertSeverity", "AlertState"]

DEFAULT_COOLDOWN_SECONDS: dict[AlertSeverity, int] = {
    AlertSeverity.INFO: 600,
    AlertSeverity.WARNING: 300,
    AlertSeverity.CRITICAL: 60,
    AlertSeverity.EMERGENCY: 10,
}


class AlertState(str, Enum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    STALE = "stale"  # terminal: its data stopped coming (docs/ALERTS.md), neither firing nor resolved


@dataclass
class Alert:
    """One alert instance: a rule breached for one fingerprint (e.g. one exchange)."""

    rule_name: str
    title: str
    message: str
    severity: AlertSeverity
    channels: list[AlertChannel] = field(default_factory=lambda: [AlertChannel.LOG])
    labels: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    alert_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    fingerprint: str = ""
    state: AlertState = AlertState.FIRING
    created_at: float = field(default_factory=time.time)
    resolved_at: float | None = None
    # An acknowledgement in force (alerting/acks.py keeps it in Redis; records.py fills these on load):
    # who, when (Redis clock), why, and until when (None: until the episode resolves or its severity rises).
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    ack_comment: str | None = None
    ack_expires_at: float | None = None
    # The episode's escalation steps, chosen when it started (alerting/escalation.py): [{"after_seconds",
    # "channels"}]; empty without escalation. ``channels`` holds the channels its reached steps named.
    escalation: list[dict[str, Any]] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        """True while an ack is in force. Records carry only acks in force when loaded (expiry is judged on
        the Redis clock there); an object held longer checks the expiry against this host's clock."""
        return self.acknowledged_by is not None and (self.ack_expires_at is None or self.ack_expires_at > time.time())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        data["channels"] = [c.value for c in self.channels]
        data["state"] = self.state.value
        data["acknowledged"] = self.acknowledged
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        data = dict(data)
        data["severity"] = AlertSeverity.parse(data["severity"])
        data["channels"] = [AlertChannel.parse(c) for c in data.get("channels", [])]
        data["state"] = AlertState(data.get("state", AlertState.FIRING.value))
        data.pop("acknowledged", None)  # a to_dict() reader's convenience, derived from the fields
        return cls(**data)

    # Original-description compatibility: `alert.name`, `alert.timestamp`.
    @property
    def name(self) -> str:
        return self.rule_name

    @property
    def timestamp(self) -> float:
        return self.created_at
