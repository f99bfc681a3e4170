"""Celery tasks for the rules queue: periodic and fast (coalesced) rule evaluation, the outbox sweep.

``request_fast_evaluation()`` is a plain function the ingest task calls after each batch. It queues at
most one ``evaluate_fast`` at a time (SET NX on ``rules:fast:pending``); the task clears that flag
*before* it builds its snapshot, so data ingested after a request is always seen by some evaluation,
and ``rules:fast:throttle`` spaces evaluations by ``alerts.fast_evaluation_min_interval_seconds``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Any

from graphwiz_monitoring.celery import app
from graphwiz_monitoring.celery_clock import MAX_AGE_HEADER
from graphwiz_monitoring.context import get_keys, get_settings, get_store
from graphwiz_monitoring.errors import StateError

log = logging.getLogger(__name__)

# If a queued fast evaluation is lost, this is the longest the flag can block new requests.
FAST_PENDING_SAFETY_SECONDS = 10.0
# Kinds of ingested records that never change what fast rules read.
SLOW_ONLY_KINDS = frozenset({"system"})
NOTIFY_TASK = "workers.notify.deliver"


def request_fast_evaluation(kinds: Iterable[str] | None = None) -> bool:
    """Queue one ``evaluate_fast`` unless one is already queued; True when this call queued it.

    ``kinds`` are the record kinds just ingested (None: unknown, always request). Never raises:
    the periodic evaluation still catches whatever a failed request would have.
    """
    if kinds is not None:
        kinds = set(kinds)
        if not kinds or kinds <= SLOW_ONLY_KINDS:
            return False
    settings = get_settings()
    store, keys = get_store(settings), get_keys(settings)
    try:
        if not store.r.set(keys.fast_eval_pending, "1", nx=True, px=int(FAST_PENDING_SAFETY_SECONDS * 1000)):
            return False
        wait_ms = store.r.pttl(keys.fast_eval_throttle)
        countdown = wait_ms / 1000.0 if wait_ms and wait_ms > 0 else None
        # Stale after FAST_PENDING_SAFETY_SECONDS on the Redis clock (celery_clock.py): Celery's expires and
        # countdown alone are absolute times on this host's clock, wrong on a rules worker whose clock is not.
        evaluate_fast.apply_async(countdown=countdown, expires=FAST_PENDING_SAFETY_SECONDS, retry=False,
                                  headers={MAX_AGE_HEADER: FAST_PENDING_SAFETY_SECONDS})
        return True
    except Exception as exc:  # broker or Redis down: let the next batch try again
        log.warning("fast rule evaluation not queued: %s", type(exc).__name__)
        try:
            store.r.delete(keys.fast_eval_pending)
        except StateError:
            pass
        return False


def _dispatch(alert_id: str, channel: str, kind: str) -> None:
    """Hand one notification (alert × channel) to the notify queues; the alert JSON is already stored."""
    app.send_task(NOTIFY_TASK, args=(alert_id, channel, kind), retry=True)


@functools.lru_cache(maxsize=4)
def _manager(settings_id: int) -> Any:
    from graphwiz_monitoring.alerting.manager import AlertManager

    settings = get_settings()
    return AlertManager(get_store(settings), get_keys(settings), settings, dispatch=_dispatch, load_modules=True)


def _evaluate(fast: bool) -> dict[str, Any]:
    from graphwiz_monitoring.metrics.snapshot import build_snapshot

    settings = get_settings()
    manager = _manager(id(settings))
    snapshot = build_snapshot(manager.store, manager.keys, settings)
    return manager.evaluate(snapshot, fast=fast).summary()


@app.task(name="workers.rules.evaluate", bind=True, max_retries=0)
def evaluate(self: Any) -> dict[str, Any]:
    """Periodic: every rule against a fresh snapshot (a failure waits for the next beat tick)."""
    return _evaluate(fast=False)


@app.task(name="workers.rules.evaluate_fast", bind=True, max_retries=2, default_retry_delay=0.2)
def evaluate_fast(self: Any) -> dict[str, Any]:
    """Coalesced: the rules reading ingested data (trading, exchanges, risk, portfolio, agents)."""
    settings = get_settings()
    store, keys = get_store(settings), get_keys(settings)
    try:
        # Clear the flag first: anything ingested from now on queues another evaluation.
        pipe = store.r.pipeline(transaction=False)
        pipe.delete(keys.fast_eval_pending)
        interval_ms = int(settings.alerts.fast_evaluation_min_interval_seconds * 1000)
        if interval_ms > 0:
            pipe.set(keys.fast_eval_throttle, "1", px=interval_ms)
        pipe.execute()
        return _evaluate(fast=True)
    except StateError as exc:
        raise self.retry(exc=exc) from None


@app.task(name="workers.rules.sweep_outbox", bind=True, max_retries=0)
def sweep_outbox(self: Any, grace_seconds: float | None = None) -> dict[str, Any]:
    """Periodic: hand over notifications whose alert was stored but whose tasks were never enqueued."""
    from graphwiz_monitoring.alerting import outbox

    grace = outbox.GRACE_SECONDS if grace_seconds is None else float(grace_seconds)
    return outbox.sweep(_manager(id(get_settings())), grace_seconds=grace).summary()
