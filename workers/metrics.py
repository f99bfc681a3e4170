"""Celery tasks for the metrics queue: this host's system metrics, history trimming (both periodic)."""

from __future__ import annotations

from typing import Any

from graphwiz_monitoring import tasks
from graphwiz_monitoring.celery import app
from graphwiz_monitoring.context import get_keys, get_settings, get_store
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.metrics.retention import trim_history as trim
from graphwiz_monitoring.metrics.snapshot import publish_snapshot
from graphwiz_monitoring.metrics.system import collect_host_sample, write_host_sample


@app.task(name=tasks.COLLECT_SYSTEM_METRICS, bind=True, max_retries=0)
def collect_system_metrics(self: Any) -> dict[str, Any]:
    """Sample this worker's host, store it, and publish the fresh snapshot (METRICS event).

    No retry: the next beat tick samples again, and a stale sample is worth nothing.
    """
    settings = get_settings()
    store, keys = get_store(settings), get_keys(settings)
    sample = collect_host_sample()
    try:
        write_host_sample(store, keys, sample, settings.retention.host_stale_seconds)
        publish_snapshot(store, keys, settings)
    except StateError:
        return {"host": sample.host, "stored": False}
    return {"host": sample.host, "stored": True, "cpu_percent": sample.cpu_percent}


@app.task(name=tasks.TRIM_HISTORY, bind=True, max_retries=0)
def trim_history(self: Any) -> dict[str, int]:
    """Drop metric history older than the configured retention (count bounds apply at write time)."""
    settings = get_settings()
    return trim(get_store(settings), get_keys(settings), settings)
