"""Celery tasks for the health queue: one scheduled run of one check (beat passes the name and the
time limits). The library does the work; a failing check hands its recovery to the recovery queue.
"""

from __future__ import annotations

import logging
from typing import Any

from graphwiz_monitoring import tasks
from graphwiz_monitoring.celery import app, default_sender
from graphwiz_monitoring.context import get_keys, get_settings, get_store
from graphwiz_monitoring.errors import StateError, ValidationError
from graphwiz_monitoring.health.checker import HealthChecker

log = logging.getLogger(__name__)


@app.task(name=tasks.RUN_CHECK, ignore_result=True)
def run_check(name: str) -> dict[str, Any] | None:
    settings = get_settings()
    checker = HealthChecker(settings, get_store(settings), get_keys(settings), sender=default_sender())
    try:
        result = checker.check_now(name)
    except ValidationError as exc:  # an unknown name can only come from a bad schedule: not retried
        log.error("health check not run: %s", exc)
        return None
    except StateError as exc:  # Redis down: the next beat tick runs it again
        log.warning("health check %s not run: %s", name, exc)
        return None
    return {"name": name, "status": result.status.value}
