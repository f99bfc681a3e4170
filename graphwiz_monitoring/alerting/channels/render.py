"""What every channel shows of an alert: headline, subject, colour, fields, time, and safe truncation.

Each channel escapes for its own markup; ``fit`` truncates the *raw* text so that an escape sequence
(``&amp;``, ``\\_``) is never cut in half.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
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
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def marked(kind: str, text: str) -> str:
    """``text`` as an episode's end shows it: ``[STALE] text``, ``[RESOLVED] text``, else unchanged."""
    base = kind_base(kind)
    if base is NotificationKind.STALE:
        return f"{STALE_MARK} {text}"
    return f"{RESOLVED_MARK} {text}" if base is NotificationKind.RESOLVED else text


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
        return marked(self.kind, self.alert.title)

    @property
    def subject(self) -> str:
        """``[SEVERITY] title``, marked when resolved (email subject, Telegram, log)."""
        return marked(self.kind, f"[{self.severity}] {self.alert.title}")

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


@dataclass(frozen=True)
class GroupView:
    """The channel-independent presentation of a grouped message (alerting/grouping.py): several alerts of
    one storm, each with its own kind (all of one kind base: firing, repeat, resolved or stale)."""

    items: list[tuple[Alert, str]]

    @property
    def views(self) -> list[View]:
        return [View(alert, kind) for alert, kind in self.items]

    @property
    def kind(self) -> str:
        base = kind_base(self.items[0][1])
        return base.value if base is not None else self.items[0][1]

    @property
    def resolved(self) -> bool:
        return self.views[0].resolved

    @property
    def stale(self) -> bool:
        return self.views[0].stale

    @property
    def top_severity(self) -> AlertSeverity:
        return max((alert.severity for alert, _ in self.items), key=lambda s: s.rank)

    @property
    def severity(self) -> str:
        return self.top_severity.value.upper()

    @property
    def rules(self) -> list[str]:
        return list(dict.fromkeys(alert.rule_name for alert, _ in self.items))

    @property
    def headline(self) -> str:
        """``19 alerts firing: exchange_disconnect``, marked when resolved or stale."""
        what = {NotificationKind.FIRING.value: "firing", NotificationKind.REPEAT.value: "still firing",
                NotificationKind.RESOLVED.value: "resolved", NotificationKind.STALE.value: "stale"}.get(self.kind, self.kind)
        rules = self.rules
        return marked(self.kind, f"{len(self.items)} alerts {what}: {rules[0] if len(rules) == 1 else ', '.join(rules)}")

    @property
    def subject(self) -> str:
        return f"[{self.severity}] {self.headline}"

    @property
    def color(self) -> int:
        return RESOLVED_COLOR if self.resolved else SEVERITY_COLORS[self.top_severity]

    @property
    def event_time(self) -> float:
        return max(view.event_time for view in self.views)

    @property
    def timestamp(self) -> str:
        return iso(self.event_time)

    @property
    def footer(self) -> str:
        return f"Severity: {self.severity} | {len(self.items)} alerts"

    def lines(self, limit: int, escape: Callable[[str], str] = _identity, bullet: str = "• ",
              line_max: int = 300) -> list[str]:
        """One line per alert (``• <title>``) within ``limit`` characters in all (newlines counted), the
        last saying how many did not fit: every alert is named whenever the channel's limit allows."""
        out: list[str] = []
        used = 0
        for i, (alert, _) in enumerate(self.items):
            line = bullet + fit(alert.title, line_max, escape)
            rest = len(self.items) - i - 1
            reserve = len(f"… and {rest} more") + 1 if rest else 0
            if used + len(line) + 1 + reserve > limit:
                out.append(f"… and {len(self.items) - i} more")
                break
            out.append(line)
            used += len(line) + 1
        return out
