"""Celery tasks for the ingest queue: trader batches and directly enqueued trades.

Signatures take ``*args, **kwargs`` on purpose: a malformed call (wrong arity, wrong types) is
dead-lettered with its reason instead of failing inside Celery where nobody sees it.
"""

from __future__ import annotations

from typing import Any

from graphwiz_monitoring import tasks
from graphwiz_monitoring.alerting.fast_path import request_fast_evaluation
from graphwiz_monitoring.celery import app, default_sender
from graphwiz_monitoring.context import get_keys, get_settings, get_store
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.metrics import ingest

RETRY_BACKOFF_MAX_SECONDS = 30.0


def _run(task: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    settings = get_settings()
    store, keys = get_store(settings), get_keys(settings)
    payload = ingest.call_payload(args, kwargs, name)
    try:
        if name == "batch":
            result = ingest.ingest_batch(store, keys, settings, payload)
        else:  # direct trades: the task id is the batch id, so a redelivered task is not counted twice
            items = [payload] if name == "trade" else payload
            result = ingest.ingest_records(store, keys, settings, task.request.id or "direct", "trade", items)
    except StateError as exc:  # Redis down: the batch is intact in the broker, try again later
        countdown = min(RETRY_BACKOFF_MAX_SECONDS, 0.5 * 2 ** task.request.retries)
        raise task.retry(exc=exc, countdown=countdown, max_retries=None) from None
    if ingest.announce(store, keys, result):
        request_fast_evaluation(store, keys, default_sender(), result.kinds)
    return dict(result.summary())


@app.task(name=tasks.INGEST_BATCH, bind=True, acks_late=True)
def ingest_batch(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """One trader batch: ``{"batch_id": str, "records": [{"kind": ..., "data": {...}}]}`` (or its JSON text)."""
    return _run(self, "batch", args, kwargs)


@app.task(name=tasks.RECORD_TRADE, bind=True, acks_late=True)
def record_trade(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """One trade dict (same schema as ``TradingMonitor.record_trade``); redelivery-safe via the task id."""
    return _run(self, "trade", args, kwargs)


@app.task(name=tasks.RECORD_TRADES, bind=True, acks_late=True)
def record_trades(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """A list of trade dicts."""
    return _run(self, "trades", args, kwargs)
