"""The one TaskSender: enqueues tasks by name through a Celery app (see graphwiz_monitoring.tasks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery

from graphwiz_monitoring.celery.clock import MAX_AGE_HEADER
from graphwiz_monitoring.config import Settings

# A publish the caller asked to retry: a few quick tries, then the error reaches the caller.
RETRY_POLICY = {"max_retries": 3, "interval_start": 0.1, "interval_step": 0.5}


class CeleryTaskSender:
    """``TaskSender`` over a Celery app; one per process (each app holds its own broker connection pool).

    kombu's own publish retry is off unless asked for, so that the caller (e.g. the trader's shipper
    thread) decides how to wait instead of blocking inside kombu.
    """

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send(self, task: str, args: Sequence[Any] = (), *, retry: bool = False, max_age_seconds: float | None = None,
             **options: Any) -> None:
        extra: dict[str, Any] = {"retry_policy": RETRY_POLICY} if retry else {}
        if max_age_seconds is not None:  # stamped with the Redis time by the app (clock.py)
            extra["headers"] = {MAX_AGE_HEADER: float(max_age_seconds)}
        self.app.send_task(task, args=tuple(args), retry=retry, **extra, **options)


def sender_for(settings: Settings) -> CeleryTaskSender:
    """A sender with its own app built from ``settings`` (the trader's; workers use their default app)."""
    from graphwiz_monitoring.celery.factory import create_app

    return CeleryTaskSender(create_app(settings))
