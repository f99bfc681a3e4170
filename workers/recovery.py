"""Celery tasks for the recovery queue: run one check's recovery actions through the trader.

Redelivery-safe: ids derive from ``recovery_id``, so a rerun reuses recorded outcomes.
"""

from __future__ import annotations

import logging
from typing import Any

from graphwiz_monitoring import tasks
from graphwiz_monitoring.celery import app, default_sender
from graphwiz_monitoring.context import get_keys, get_settings, get_store
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.health.recovery import RecoveryRunner

log = logging.getLogger(__name__)
RETRY_COUNTDOWN_SECONDS = 5


@app.task(name=tasks.RUN_RECOVERY, bind=True, ignore_result=True, max_retries=3)
def run_recovery(self: Any, check: str, recovery_id: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    settings = get_settings()
    try:
        report = RecoveryRunner(settings, get_store(settings), get_keys(settings),
                                sender=default_sender()).run(check, recovery_id, payload)
    except StateError as exc:  # Redis down mid-recovery: rerun later, recorded attempts are reused
        log.warning("recovery of %s interrupted: %s", check, exc)
        raise self.retry(countdown=RETRY_COUNTDOWN_SECONDS) from None
    return report.to_dict()
