"""What every channel shows of an alert: headline, subject, colour, fields, time, and safe truncation.

Each channel escapes for its own markup; ``fit`` truncates the *raw* text so that an escape sequence
(``&amp;``, ``\\_``) is never cut in half.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from graphwiz_monitoring.alerting.models import Alert, AlertSeverity
from graphwiz_monitoring.vocabulary import NotificationKind, kind_base

SEVERITY_COLORS: dict[AlertSeverity, int] = {
    AlertSeverity.INFO: 0x3498DB,
    AlertSeverity.WARNING: 0xFF9500,
    AlertSeverity.CRITICAL: 0xFF0000,
    AlertSeverity.EMERGENCY: 0x9B59B6,
}
RESOLVED_COLOR = 0x2ECC71
RESOLVED_MARK = "[RESOLVED]"
STALE_MARK = "[STALE]"
ELLIPSIS = "…"


def _identity(text: str) -> str:
    return text


def fit(text: str, limit: int, escape: Callable[[str], str] = _identity) -> str:
    """``escape(text)``, shortened with "…" so that the result is at most ``limit`` characters."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    budget = limit - len(ELLIPSIS)
    raw = text[:budget]
    while raw and len(escape(raw)) > budget:
        raw = raw[: len(raw) - max(1, (len(escape(raw)) - budget) // 2)]
    return escape(raw) + ELLIPSIS


def field_text(value: Any) -> str:
    """A label/metadata value as text: scalars plainly, containers as compact sorted JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


@dataclass(frozen=True)
class View:
    """The channel-independent presentation of one notification."""

    alert: Alert
    kind: str

    @property
    def resolved(self) -> bool:
        return kind_base(self.kind) is NotificationKind.RESOLVED

    @property
    def stale(self) -> bool:
        return kind_base(self.kind) is NotificationKind.STALE

    @property
    def severity(self) -> str:
        return self.alert.severity.value.upper()

    @property
    def headline(self) -> str:
        """Title, marked when resolved (channels that show severity elsewhere)."""
        if self.stale:
            return f"{STALE_MARK} {self.alert.title}"
        return f"{RESOLVED_MARK} {self.alert.title}" if self.resolved else self.alert.title

    @property
    def subject(self) -> str:
        """``[SEVERITY] title``, marked when resolved (email subject, Telegram, log)."""
        base = f"[{self.severity}] {self.alert.title}"
        if self.stale:
            return f"{STALE_MARK} {base}"
        return f"{RESOLVED_MARK} {base}" if self.resolved else base

    @property
    def color(self) -> int:
        return RESOLVED_COLOR if self.resolved else SEVERITY_COLORS[self.alert.severity]

    @property
    def event_time(self) -> float:
        """When it fired, or when it resolved."""
        if self.resolved and self.alert.resolved_at:
            return self.alert.resolved_at
        return self.alert.created_at

    @property
    def timestamp(self) -> str:
        return iso(self.event_time)

    @property
    def fields(self) -> list[tuple[str, str]]:
        """Labels, then metadata keys not already shown as labels."""
        out = [(str(k), field_text(v)) for k, v in self.alert.labels.items()]
        out += [(str(k), field_text(v)) for k, v in self.alert.metadata.items() if k not in self.alert.labels]
        return out

    @property
    def footer(self) -> str:
        return f"Severity: {self.severity}"
