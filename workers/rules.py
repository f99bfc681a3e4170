"""Celery tasks for the rules queue: periodic and fast (coalesced) rule evaluation, the outbox sweep,
escalation steps, the digest.

The fast path's coalescing lives in graphwiz_monitoring.alerting.fast_path.
"""

from __future__ import annotations

import functools
from typing import Any

from graphwiz_monitoring import tasks
from graphwiz_monitoring.alerting import notifier, outbox, published
from graphwiz_monitoring.alerting.fast_path import begin_fast_evaluation
from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.celery import app, default_sender
from graphwiz_monitoring.context import get_keys, get_settings, get_store
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.health.digest import send_due_digest
from graphwiz_monitoring.metrics.snapshot import build_snapshot
from graphwiz_monitoring.state import stamps


@functools.lru_cache(maxsize=4)
def _manager(settings_id: int) -> AlertManager:
    settings = get_settings()
    manager = AlertManager(get_store(settings), get_keys(settings), settings, sender=default_sender(),
                           load_modules=True)
    published.publish(manager.store, manager.keys, settings)  # YAML rules for check_alert() in traders
    return manager


def _evaluate(fast: bool) -> dict[str, Any]:
    settings = get_settings()
    manager = _manager(id(settings))
    snapshot = build_snapshot(manager.store, manager.keys, settings)
    return manager.evaluate(snapshot, fast=fast).summary()


@app.task(name=tasks.EVALUATE_RULES, bind=True, max_retries=0)
def evaluate(self: Any) -> dict[str, Any]:
    """Periodic: every rule against a fresh snapshot (a failure waits for the next beat tick); publishes
    the deployment's non-secret alerting configuration again (alerting/published.py)."""
    settings = get_settings()
    store, keys = get_store(settings), get_keys(settings)
    published.publish(store, keys, settings)
    summary = _evaluate(fast=False)
    stamps.stamp(store, keys, stamps.RULES)  # the dead-man's switch and beat_down read it
    return summary


@app.task(name=tasks.EVALUATE_FAST, bind=True, max_retries=2, default_retry_delay=0.2)
def evaluate_fast(self: Any) -> dict[str, Any]:
    """Coalesced: the rules reading ingested data (trading, exchanges, risk, portfolio, agents)."""
    settings = get_settings()
    try:
        begin_fast_evaluation(get_store(settings), get_keys(settings), settings)
        return _evaluate(fast=True)
    except StateError as exc:
        raise self.retry(exc=exc) from None


@app.task(name=tasks.SEND_DIGEST, bind=True, max_retries=0)
def send_digest(self: Any) -> str | None:
    """Periodic: the scheduled digest, when one is due and nobody sent it yet (health/digest.py)."""
    sent = send_due_digest(_manager(id(get_settings())))
    return sent.alert_id if sent is not None else None


@app.task(name=tasks.SWEEP_OUTBOX, bind=True, max_retries=0)
def sweep_outbox(self: Any, grace_seconds: float | None = None) -> dict[str, Any]:
    """Periodic: hand over notifications whose alert was stored but whose tasks were never enqueued."""
    grace = outbox.GRACE_SECONDS if grace_seconds is None else float(grace_seconds)
    return notifier.sweep(_manager(id(get_settings())), grace_seconds=grace).summary()


@app.task(name=tasks.ESCALATE, bind=True, max_retries=0)
def escalate(self: Any) -> dict[str, Any]:
    """Periodic (beat, when escalation is configured): tell the escalation steps due now, each once."""
    reached = _manager(id(get_settings())).escalate_due()
    return {"escalated": [f"{alert_id}:{step}" for alert_id, step in reached]}


@app.task(name=tasks.FLUSH_GROUP, bind=True, max_retries=None)
def flush_group(self: Any, group: str, window: str) -> str:
    """A storm group's grouped message, due when its window ends (alerting/grouping.py); early (this host's
    clock is not Redis's): comes back when due. A lost task is the outbox sweep's to make up for."""
    claim = _manager(id(get_settings())).notifier.flush(str(group), str(window))
    if claim.verdict == "wait":
        raise self.retry(countdown=claim.wait_seconds + 0.01, max_retries=None)
    return claim.verdict
