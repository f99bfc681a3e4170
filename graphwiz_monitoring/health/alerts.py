"""The seam between health and the alerting area: a check gone bad is an alert episode
(``AlertManager.open_episode``, rule ``health:<check>``, the check as fingerprint) that resolves when the
check is healthy again (``close_episode``); ``notify_admin`` and recovery notices stay one-shot alerts
(``create_manual_alert``). Repeats, flap guard and channels are alerting's job (docs/ALERTS.md).
"""

from __future__ import annotations

import logging
from typing import Any

from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.alerting.models import AlertSeverity
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.health.models import HealthStatus
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import TaskSender

log = logging.getLogger(__name__)

SEVERITY_BY_STATUS = {
    HealthStatus.DEGRADED: AlertSeverity.WARNING,
    HealthStatus.UNHEALTHY: AlertSeverity.CRITICAL,
    HealthStatus.CRITICAL: AlertSeverity.EMERGENCY,
}


def alert_manager_for(settings: Settings, store: Store, keys: KeySpace,
                      sender: TaskSender | None = None) -> Any | None:
    """The alerting area's AlertManager, or None (logged) when it cannot be created."""
    try:
        return AlertManager(store, keys, settings, sender=sender)
    except Exception:
        log.exception("AlertManager could not be created; health alerts are only logged")
        return None


def raise_alert(manager: Any | None, title: str, message: str, severity: AlertSeverity,
                metadata: dict[str, Any]) -> str | None:
    """Create one alert; returns its id, or None (logged) when alerting is unavailable or refuses."""
    if manager is None:
        log.warning("[%s] %s: %s (no alert manager)", severity.value.upper(), title, message)
        return None
    alert = manager.create_manual_alert(title, message, severity, metadata=metadata)
    return getattr(alert, "alert_id", None) or (alert if isinstance(alert, str) else None)


HEALTH_RULE_PREFIX = "health:"


def health_rule(check: str) -> str:
    """The alert rule name of a health check's episodes."""
    return HEALTH_RULE_PREFIX + check


def transition_alert(manager: Any | None, check: str, previous: HealthStatus | None, current: HealthStatus,
                     message: str) -> str | None:
    """Feed one judged status of ``check`` to its alert episode: bad (severity by status) opens or goes on
    with it (repeats when due), healthy resolves it. Call it on every judged result, not only on changes.
    Returns the episode's alert id (None when nothing is open or alerting is unavailable)."""
    if current not in (HealthStatus.HEALTHY, *SEVERITY_BY_STATUS):
        return None
    if manager is None:
        if current is not previous and not (previous is None and current is HealthStatus.HEALTHY):
            log.warning("[health] %s: %s: %s (no alert manager)", check, current.value, message)
        return None
    if current is HealthStatus.HEALTHY:
        closed = manager.close_episode(health_rule(check), check)
        return getattr(closed, "alert_id", None)
    meta = {"check": check, "status": current.value, "previous": previous.value if previous else None,
            "source": "health"}
    return manager.open_episode(health_rule(check), check, f"Health check {check} is {current.value}", message,
                                SEVERITY_BY_STATUS[current], metadata=meta, labels={"check": check})
