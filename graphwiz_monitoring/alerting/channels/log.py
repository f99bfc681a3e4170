"""The log channel: Python logging at the configured level. Always available; the last resort.

Besides ordinary notifications it carries the notices nobody may miss: a notification that went to
the dead-letter list, and alerts held back while a channel's circuit is open. Line breaks in alert
text are shown as ``\\n`` so data cannot forge extra log lines.
"""

from __future__ import annotations

import logging

from graphwiz_monitoring.alerting.channels.base import Channel
from graphwiz_monitoring.alerting.channels.render import GroupView, View, fit
from graphwiz_monitoring.alerting.models import Alert
from graphwiz_monitoring.config import LogSettings

LOGGER_NAME = "graphwiz_monitoring.alerts"
MESSAGE_MAX_CHARS = 2000

log = logging.getLogger(LOGGER_NAME)


def _line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def describe(alert: Alert, kind: str) -> str:
    """One log line for an alert: subject, message, rule, id, labels."""
    view = View(alert, kind)
    labels = " ".join(f"{k}={v}" for k, v in view.fields)
    text = f"{view.subject}: {fit(alert.message, MESSAGE_MAX_CHARS)} | rule={alert.rule_name} alert_id={alert.alert_id}"
    return _line(f"{text} {labels}".rstrip())


class LogChannel(Channel):
    name = "log"
    settings_model = LogSettings

    @property
    def level(self) -> int:
        assert isinstance(self.settings, LogSettings)
        level = logging.getLevelName(self.settings.level.strip().upper())
        return level if isinstance(level, int) else logging.WARNING

    def send(self, alert: Alert, kind: str) -> None:
        log.log(self.level, "ALERT %s", describe(alert, kind))

    def send_group(self, items: list[tuple[Alert, str]]) -> None:
        """One record for the whole group: its subject, then each alert's line (`` || `` between them)."""
        view = GroupView(items)
        log.log(self.level, "ALERT GROUP %s: %s", _line(view.subject),
                " || ".join(describe(alert, kind) for alert, kind in items))

    def dead_letter_notice(self, channel: str, alert: Alert | None, alert_id: str, kind: str, reason: str) -> None:
        """A notification was given up on: always at ERROR, whatever the configured level."""
        what = describe(alert, kind) if alert else f"alert {alert_id} ({kind})"
        log.error("NOTIFICATION FAILED via %s, moved to the dead-letter list (%s): %s", channel, _line(reason), what)

    def undeliverable_notice(self, channel: str, alert: Alert | None, alert_id: str, kind: str) -> None:
        """No channel of the alert can deliver it in this deployment: shown here, at WARNING or above,
        even when the log channel itself is disabled (never dropped silently)."""
        what = describe(alert, kind) if alert else f"alert {alert_id} ({kind})"
        log.log(max(self.level, logging.WARNING), "ALERT (undeliverable via %s: not configured or disabled in "
                "this deployment) %s", channel, what)

    def fallback_notice(self, channel: str, alert: Alert, kind: str, why: str) -> None:
        """A channel cannot take the alert right now (circuit open): show it here meanwhile."""
        log.log(max(self.level, logging.WARNING), "ALERT (held for %s: %s) %s", channel, _line(why),
                describe(alert, kind))
