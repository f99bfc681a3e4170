"""Celery tasks for the ingest queue: trader batches and directly enqueued trades.

Signatures take ``*args, **kwargs`` on purpose: a malformed call (wrong arity, wrong types) is
dead-lettered with its reason instead of failing inside Celery where nobody sees it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import workers.rules
from graphwiz_monitoring import tasks
from graphwiz_monitoring.celery import app
from graphwiz_monitoring.context import get_keys, get_settings, get_store
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.events import EventType, make_event
from graphwiz_monitoring.metrics import ingest

log = logging.getLogger(__name__)

RETRY_BACKOFF_MAX_SECONDS = 30.0
FAST_KINDS = frozenset({"trade", "latency", "exchange_status", "portfolio", "prediction"})


def _payload(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
    """The one payload argument, or the whole malformed call (which the library dead-letters)."""
    if len(args) == 1 and not kwargs:
        return args[0]
    if not args and list(kwargs) == [name]:
        return kwargs[name]
    return {"malformed_call": {"args": list(args), "kwargs": kwargs}}


def _run(task: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    settings = get_settings()
    store, keys = get_store(settings), get_keys(settings)
    payload = _payload(args, kwargs, name)
    try:
        if name == "batch":
            result = ingest.ingest_batch(store, keys, settings, payload)
        else:  # direct trades: the task id is the batch id, so a redelivered task is not counted twice
            items = [payload] if name == "trade" else payload
            result = ingest.ingest_records(store, keys, settings, task.request.id or "direct", "trade", items)
    except StateError as exc:  # Redis down: the batch is intact in the broker, try again later
        countdown = min(RETRY_BACKOFF_MAX_SECONDS, 0.5 * 2 ** task.request.retries)
        raise task.retry(exc=exc, countdown=countdown, max_retries=None) from None
    _announce(store, keys, result)
    return result.summary()


def _announce(store: Any, keys: Any, result: ingest.IngestResult) -> None:
    """Realtime events (one round trip for both) and the fast rule path, after data changed."""
    if result.duplicate or not result.kinds:
        return
    try:
        pipe = store.r.pipeline(transaction=False)
        if result.new_trades:
            pipe.publish(keys.events, json.dumps(make_event(EventType.TRADE, result.summary())))
        pipe.publish(keys.events, json.dumps(make_event(EventType.METRICS, {
            "source": "ingest", "batch_id": result.batch_id, "accepted": result.accepted})))
        pipe.execute()
    except StateError:
        pass  # best effort, like events.publish: the data is stored either way
    request = getattr(workers.rules, "request_fast_evaluation", None)
    if request is not None and result.kinds & FAST_KINDS:
        request(result.kinds)


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
