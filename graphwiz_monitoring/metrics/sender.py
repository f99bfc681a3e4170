"""How the trader's client hands a batch to the broker: the Celery sender, and counting a batch's records.

The client (client.py) takes any ``Sender`` (a callable raising on failure); ``CelerySender`` is the
default. Celery is imported only when the sender thread prepares it, never by ``record_*``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..config import Settings

INGEST_TASK = "workers.ingest.ingest_batch"

Sender = Callable[[dict[str, Any]], None]


def count_records(batch: dict[str, Any]) -> int:
    """Records in a batch, counting each trade of a columnar ``trades`` record."""
    total = 0
    for record in batch.get("records", ()):
        data = record.get("data") if isinstance(record, dict) else None
        if isinstance(record, dict) and record.get("kind") == "trades" and isinstance(data, dict):
            total += len(data.get("symbol") or ())
        else:
            total += 1
    return total


class CelerySender:
    """Publish a batch with the trader's own Celery app (imported by ``prepare()`` or on first use, kept).

    A sender may have a ``prepare()`` method: the sender thread calls it once before its first send, so
    that importing Celery (about a second) is not taken for a send hanging on an unreachable broker.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._app: Any = None
        self._send: Any = None

    def prepare(self) -> None:
        if self._app is None:
            from ..celery import create_app
            from ..celery import send as send_task

            self._app, self._send = create_app(self._settings), send_task

    def __call__(self, batch: dict[str, Any]) -> None:
        self.prepare()
        # As JSON text: Celery's main worker process then passes one string to the pool instead of
        # decoding and pickling thousands of values (the task accepts a dict too).
        self._send(INGEST_TASK, json.dumps(batch, separators=(",", ":")), celery_app=self._app)


def celery_sender(settings: Settings) -> Sender:
    """Publish a batch with the trader's own Celery app (see CelerySender)."""
    return CelerySender(settings)
