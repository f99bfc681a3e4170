"""How the trader's shipper hands a batch to the broker, and counting a batch's records.

The shipper (shipper.py) takes any ``Sender`` (a callable raising on failure); ``IngestSender`` is the
one the monitor gives it. A sender may have a ``prepare()`` method: the sender thread calls it once
before its first send, so that building the Celery app (about a second) is not taken for a send
hanging on an unreachable broker. Never called by ``record_*``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from graphwiz_monitoring import tasks
from graphwiz_monitoring.tasks import TaskSender

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


class IngestSender:
    """Publish a batch as ``workers.ingest.ingest_batch`` through the trader's TaskSender, built by
    ``prepare()`` (or on the first send) from ``task_sender`` and kept."""

    def __init__(self, task_sender: Callable[[], TaskSender]) -> None:
        self._factory = task_sender
        self._sender: TaskSender | None = None

    def prepare(self) -> None:
        if self._sender is None:
            self._sender = self._factory()

    def __call__(self, batch: dict[str, Any]) -> None:
        self.prepare()
        assert self._sender is not None
        # As JSON text: Celery's main worker process then passes one string to the pool instead of
        # decoding and pickling thousands of values (the task accepts a dict too).
        self._sender.send(tasks.INGEST_BATCH, (json.dumps(batch, separators=(",", ":")),))
