"""Alert data model: severities, channels, the Alert record (names from the original description)."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, TypeVar

from graphwiz_monitoring.tasks import notify_queue

_E = TypeVar("_E", bound=Enum)


def _parse_member(cls: type[_E], value: Any, what: str) -> _E:
    """A member of ``cls`` from itself or its value in any case ("warning", "WARNING")."""
    if isinstance(value, cls):
        return value
    try:
        return cls(str(value).strip().lower())
    except ValueError:
        raise ValueError(f"unknown {what}, expected one of {[m.value for m in cls]}, got {value!r}") from None


class AlertSeverity(str, Enum):
    """How bad an alert is; each level has a default cooldown."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    EMERGENCY = "emergency"

    @classmethod
    def parse(cls, value: Any) -> AlertSeverity:
        """Accept an AlertSeverity or its name/value in any case ("warning", "WARNING")."""
        return _parse_member(cls, value, "severity")

    @property
    def rank(self) -> int:
        return list(AlertSeverity).index(self)


class AlertChannel(str, Enum):
    """Where a notification goes; parsed case-insensitively from config."""

    DISCORD = "discord"
    SLACK = "slack"
    EMAIL = "email"
    TELEGRAM = "telegram"
    WEBHOOK = "webhook"
    LOG = "log"

    @classmethod
    def parse(cls, value: Any) -> AlertChannel:
        """Accept an AlertChannel or its name/value in any case ("discord", "DISCORD")."""
        return _parse_member(cls, value, "channel")

    @property
    def queue(self) -> str:
        """The Celery queue of this channel's notifications."""
        return notify_queue(self.value)


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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        data["channels"] = [c.value for c in self.channels]
        data["state"] = self.state.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        data = dict(data)
        data["severity"] = AlertSeverity.parse(data["severity"])
        data["channels"] = [AlertChannel.parse(c) for c in data.get("channels", [])]
        data["state"] = AlertState(data.get("state", AlertState.FIRING.value))
        return cls(**data)

    # Original-description compatibility: `alert.name`, `alert.timestamp`.
    @property
    def name(self) -> str:
        return self.rule_name

    @property
    def timestamp(self) -> float:
        return self.created_at
