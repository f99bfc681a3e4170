"""The maintenance gate: an alert inside an open maintenance window is shown, not notified.

Windows (``alerts.maintenance``, rulebook/maintenance.py) are judged on the Redis clock, so every
process holds the same notifications; a trader follows the deployment's windows as the workers
publish them (alerting/published.py), like its routes and grouping. A held notification leaves the outbox (nothing is owed: it is
not sent later either) and is counted as ``graphwiz_notifications_total{outcome="maintenance"}``; the
alert record carries ``metadata.maintenance = {window, until}`` while it is held, which the CLI, the
stream and the status page show as "in maintenance". When the window closes, the episode's next
repeat (one cooldown later) goes out as usual and the mark is cleared. One-shot alerts (``test-alert``,
``create_manual_alert``, the digest) are never held: someone asked for them.
"""

from __future__ import annotations

import logging

from graphwiz_monitoring.alerting import delivery, outbox, routing
from graphwiz_monitoring.alerting.models import Alert
from graphwiz_monitoring.alerting.records import save_alert
from graphwiz_monitoring.alerting.rules import ONE_SHOT_RULES
from graphwiz_monitoring.config import AlertsSettings, Settings
from graphwiz_monitoring.rulebook.maintenance import MaintenanceWindow, iso, open_window, window_from_settings
from graphwiz_monitoring.rulebook.silences import alert_labels
from graphwiz_monitoring.state import KeySpace, Store

log = logging.getLogger(__name__)

MARK = "maintenance"  # the alert metadata key shown as "in maintenance"


def windows_of(alerts: AlertsSettings) -> list[MaintenanceWindow]:
    return [window_from_settings(name, spec) for name, spec in alerts.maintenance.items()]


class MaintenanceGate:
    def __init__(self, store: Store, keys: KeySpace, settings: Settings) -> None:
        self.store, self.keys = store, keys
        self._own, self._own_windows = settings.alerts, windows_of(settings.alerts)

    def hold(self, alert: Alert, kind: str, policy: AlertsSettings | None = None) -> bool:
        """True when ``alert`` is in an open window now: its ``kind`` notification is dropped and the alert
        marked. ``policy``: whose windows (``Notifier.policy()``: the deployment's as published, in a
        trader); default this process's. Costs nothing without windows, one Redis TIME with them."""
        windows = self._own_windows if policy is None or policy is self._own else windows_of(policy)
        if not windows or alert.rule_name in ONE_SHOT_RULES:
            return False
        found = open_window(windows, alert_labels(alert.rule_name, alert.severity, alert.labels), self.store.now())
        if found is None:
            if alert.metadata.pop(MARK, None) is not None:  # the window closed: shown as alerting again
                save_alert(self.store, self.keys, alert)
            return False
        window, until = found
        outbox.remove(self.store, self.keys, alert.alert_id, kind)
        for destination in routing.destinations(alert, policy or self._own):  # counted where it would have gone
            delivery.count(self.store, self.keys, destination, "maintenance")
        mark = {"window": window.name, "until": until}
        if alert.metadata.get(MARK) != mark:
            alert.metadata[MARK] = mark
            save_alert(self.store, self.keys, alert)
        log.info("alert %s: %s notification held: in maintenance window %s until %s", alert.alert_id, kind,
                 window.name, iso(until, window.timezone))
        return True


def in_maintenance(alert: Alert) -> str | None:
    """The window holding ``alert``'s notifications when it was last looked at, or None."""
    mark = alert.metadata.get(MARK)
    return str(mark.get("window")) if isinstance(mark, dict) else None
