"""The seam between health and the alerting area: health transitions and ``notify_admin`` become
alerts through ``AlertManager.create_manual_alert`` (cooldown, dedup, channels are alerting's job).
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


def transition_alert(manager: Any | None, check: str, previous: HealthStatus | None, current: HealthStatus,
                     message: str) -> str | None:
    """Alert on a judged status change: worse → severity by status, better → INFO (recovered)."""
    if current is previous or current not in (HealthStatus.HEALTHY, *SEVERITY_BY_STATUS):
        return None
    if previous is None and current is HealthStatus.HEALTHY:
        return None
    meta = {"check": check, "status": current.value, "previous": previous.value if previous else None,
            "source": "health"}
    if current is HealthStatus.HEALTHY:
        return raise_alert(manager, f"Health check {check} recovered", message, AlertSeverity.INFO, meta)
    return raise_alert(manager, f"Health check {check} is {current.value}", message,
                       SEVERITY_BY_STATUS[current], meta)
