"""The one TaskSender: enqueues tasks by name through a Celery app (see graphwiz_monitoring.tasks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery

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

    def send(self, task: str, args: Sequence[Any] = (), *, retry: bool = False, **options: Any) -> None:
        extra = {"retry_policy": RETRY_POLICY} if retry else {}
        self.app.send_task(task, args=tuple(args), retry=retry, **extra, **options)


def sender_for(settings: Settings) -> CeleryTaskSender:
    """A sender with its own app built from ``settings`` (the trader's; workers use their default app)."""
    from graphwiz_monitoring.celery.factory import create_app

    return CeleryTaskSender(create_app(settings))
