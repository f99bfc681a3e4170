"""THE Celery glue: the app (``celery -A graphwiz_monitoring worker|beat|flower`` finds it here), its
configuration, beat schedule and routing, worker hardening (sentinel.py: over Redis Sentinel too) and liveness, Flower options and argument
redaction, and the one ``TaskSender`` (sender.py).

Run by: workers, beat, Flower, and the CLI; the trader only builds a sender. Only this package, the
task modules (workers/) and ``state/store.py`` import celery, kombu or redis (tests/unit/
test_layout.py and ruff's banned-api rule keep it so). It may import every library package; none of
them imports it.
"""

from __future__ import annotations

from typing import Any

from graphwiz_monitoring.celery.beat import build_beat_schedule
from graphwiz_monitoring.celery.factory import (
    MAX_RETRY_COUNTDOWN_SECONDS,
    TASK_MODULES,
    configure,
    create_app,
    default_app,
    default_sender,
    retry_countdown,
)
from graphwiz_monitoring.celery.routing import route_task
from graphwiz_monitoring.celery.sender import CeleryTaskSender, sender_for

__all__ = ["MAX_RETRY_COUNTDOWN_SECONDS", "TASK_MODULES", "CeleryTaskSender", "build_beat_schedule", "configure",
           "create_app", "default_app", "default_sender", "retry_countdown", "route_task", "sender_for"]


def __getattr__(name: str) -> Any:
    # Built lazily: a trader importing this package for a sender never reads ./monitoring.yaml.
    if name == "app":  # what `celery -A graphwiz_monitoring` and workers/*.py look up
        return default_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
