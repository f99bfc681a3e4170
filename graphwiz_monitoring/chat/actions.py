"""What a command or a button does, through each area's own API (the same calls the CLI makes).

Acknowledge: ``AlertManager.acknowledge_alert`` (alerting/manager.py); silence: ``add_silence`` /
``silence_alert``; pause/resume: ``health.trading_control.change_trading`` (the CLI's path, so every
live trader is asked and answers). A problem the user can fix raises ``CommandError`` with a message
for them (plain text: the caller escapes it).
"""

from __future__ import annotations

import logging

from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.alerting.models import Alert
from graphwiz_monitoring.alerting.records import active_ids_matching, get_alert_history
from graphwiz_monitoring.alerting.silences import Silence, add_silence, parse_duration, silence_alert
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import GraphwizError
from graphwiz_monitoring.health.trading_control import TradingChange, change_trading
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import TaskSender

log = logging.getLogger(__name__)

MIN_ID_PREFIX_CHARS = 4
KNOWN_RULES_HISTORY_HOURS = 24
KNOWN_RULES_LISTED = 40


class CommandError(GraphwizError, ValueError):
    """Raised when a command cannot be carried out as given; the message is shown to the user."""


def acknowledge(manager: AlertManager, alert_id: str, by: str, comment: str | None = None) -> Alert:
    """The alerting area's acknowledge (docs/ALERTS.md); AlertNotFoundError or a bad comment (both
    ValueErrors naming the problem) become a CommandError for the user."""
    try:
        return manager.acknowledge_alert(alert_id, by, comment=comment)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


class Actions:
    def __init__(self, settings: Settings, store: Store, keys: KeySpace, *, sender: TaskSender | None = None) -> None:
        self.settings, self.store, self.keys, self.sender = settings, store, keys, sender
        self._manager: AlertManager | None = None

    @property
    def manager(self) -> AlertManager:
        """Built on first use: it loads the rule registry."""
        if self._manager is None:
            self._manager = AlertManager(self.store, self.keys, self.settings, sender=self.sender)
        return self._manager

    def alert_id(self, ref: str) -> str:
        """The id of the active alert ``ref`` names: its id, or the first characters of it (as /alerts shows)."""
        ref = ref.strip().lower()
        if not ref:
            raise CommandError("give an alert id (see /alerts)")
        if len(ref) < MIN_ID_PREFIX_CHARS:
            raise CommandError(f"alert id {ref!r} is too short: give at least {MIN_ID_PREFIX_CHARS} characters")
        matches = active_ids_matching(self.store, self.keys, ref)
        if not matches:
            raise CommandError(f"no active alert with id {ref!r} (see /alerts)")
        if len(matches) > 1:
            raise CommandError(f"{len(matches)} active alerts start with {ref!r}: give more characters")
        return matches[0]

    def acknowledge(self, ref: str, by: str, comment: str | None = None) -> Alert:
        return acknowledge(self.manager, self.alert_id(ref), by, comment)

    def known_rules(self) -> set[str]:
        """Rules a silence can name: the configured ones and any that alerted lately (trader-side rules)."""
        names = {r.name for r in self.manager.registry}
        names.update(a.rule_name for a in get_alert_history(self.store, self.keys, hours=KNOWN_RULES_HISTORY_HOURS))
        return names

    def silence_rule(self, rule: str, duration: str, by: str, reason: str = "") -> Silence:
        known = self.known_rules()
        if rule not in known:
            names = sorted(known)
            listed = ", ".join(names[:KNOWN_RULES_LISTED]) + (", …" if len(names) > KNOWN_RULES_LISTED else "")
            raise CommandError(f"unknown rule {rule[:80]!r}; known: {listed or 'none'}")
        try:  # RuleError (a ValueError) names the bad duration
            return add_silence(self.store, self.keys, {"rule": rule}, duration_seconds=parse_duration(duration),
                               author=by, reason=reason or "silenced from Telegram")
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    def silence_alert(self, alert_id: str, seconds: float, by: str) -> Silence:
        try:
            return silence_alert(self.store, self.keys, self.settings, alert_id=alert_id, duration_seconds=seconds,
                                 author=by, reason="Silence button in Telegram")
        except LookupError:
            raise CommandError(f"alert {alert_id} no longer exists") from None

    def set_trading(self, paused: bool, by: str, reason: str = "") -> TradingChange:
        change = change_trading(self.settings, self.store, self.keys, paused=paused, by=by,
                                reason=reason or ("paused from Telegram" if paused else ""),
                                wait=self.settings.recovery.ack_timeout_seconds, command_prefix="telegram")
        asked = len(change.fan.expected) if change.fan else 0
        log.warning("telegram bot: trading %s by %s; %d of %d live trader(s) confirmed%s",
                    "paused" if paused else "resumed", by, asked - len(change.unconfirmed()), asked,
                    f" (not: {', '.join(change.unconfirmed())})" if change.unconfirmed() else "")
        return change

