"""The names every layer shares: alert severities and channels, recovery actions.

Here, below config and the areas, so that the settings schema (config/), the rule language
(rulebook/) and the areas can all use them without importing each other. Public paths of the original
description (``graphwiz_monitoring.alerting.models.AlertSeverity`` ...) re-export them.
"""

from __future__ import annotations

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


class NotificationKind(str, Enum):
    """What a notification says of its alert: it fires (first), still fires (repeat), or it resolved.

    A repeat travels as ``repeat-<n>`` (``repeat_kind(n)``, n = 1, 2, ... within one alert's episode);
    the resolved notice of an episode that re-opened after its first notice as ``resolved-<n>`` (n >= 2).
    The sequence number is part of the outbox entry, the handed mark and the delivery record key, so
    delivery stays idempotent per notification (docs/ALERTS.md).
    """

    FIRING = "firing"
    REPEAT = "repeat"
    RESOLVED = "resolved"
    STALE = "stale"  # the episode ended because its data stopped coming (its trader went silent), not resolved
    ESCALATED = "escalated"  # ``escalated-<n>``: step n of the episode's escalation reached (alerting/escalation.py)

    # Formatted as its value ("firing"): outbox members, delivery keys and messages are built with f-strings.
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


MAX_REPEAT = 10**9


def repeat_kind(sequence: int) -> str:
    """The wire kind of an alert's ``sequence``-th repeat notification (``repeat-3``)."""
    return f"{NotificationKind.REPEAT.value}-{int(sequence)}"


def escalated_kind(step: int) -> str:
    """The wire kind of the notification of an episode's ``step``-th escalation step (``escalated-2``)."""
    return f"{NotificationKind.ESCALATED.value}-{int(step)}"


def resolved_kind(sequence: int) -> str:
    """The wire kind of an alert's ``sequence``-th resolved notice (``resolved``, then ``resolved-2``...)."""
    return NotificationKind.RESOLVED.value if sequence <= 1 else f"{NotificationKind.RESOLVED.value}-{int(sequence)}"


def kind_base(kind: str) -> NotificationKind | None:
    """FIRING, REPEAT, ESCALATED, RESOLVED or STALE for a wire kind (``firing``, ``repeat-<n>``, ``escalated-<n>``,
    ``resolved``, ``resolved-<n>``, ``stale``);
    None if unknown."""
    if not isinstance(kind, str):
        return None
    if kind in (NotificationKind.FIRING.value, NotificationKind.RESOLVED.value, NotificationKind.STALE.value):
        return NotificationKind(kind)
    prefix, _, number = kind.partition("-")
    if not (number.isdigit() and len(number) <= 10 and number[0] != "0" and int(number) <= MAX_REPEAT):
        return None
    if prefix == NotificationKind.REPEAT.value and int(number) >= 1:
        return NotificationKind.REPEAT
    if prefix == NotificationKind.ESCALATED.value and int(number) >= 1:
        return NotificationKind.ESCALATED
    if prefix == NotificationKind.RESOLVED.value and int(number) >= 2:
        return NotificationKind.RESOLVED
    return None


class _NotificationKinds(frozenset):  # type: ignore[type-arg]
    """The valid wire kinds: ``firing``, ``resolved``, ``stale``, every ``repeat-<n>``, ``escalated-<n>`` and ``resolved-<n>``
    (``kind in NOTIFICATION_KINDS``)."""

    def __contains__(self, kind: object) -> bool:
        return isinstance(kind, str) and kind_base(kind) is not None


NOTIFICATION_KINDS = _NotificationKinds({NotificationKind.FIRING, NotificationKind.RESOLVED, NotificationKind.STALE})


class RecoveryAction(str, Enum):
    """What the system may do about a failing check; executed by the trader on its dependency objects."""

    RECONNECT = "reconnect"
    RESTART = "restart"
    SCALE_DOWN = "scale_down"
    PAUSE_TRADING = "pause_trading"
    CLOSE_POSITIONS = "close_positions"
    CLEAR_CACHE = "clear_cache"
    RESET_RATE_LIMITS = "reset_rate_limits"
    NOTIFY_ADMIN = "notify_admin"
