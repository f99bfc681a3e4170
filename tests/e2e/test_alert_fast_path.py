"""Ingested data that breaches a rule is noticed by the coalesced fast path, with no beat running."""

from __future__ import annotations

import json
import time

import pytest
import redis

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import wait_until
from tests.fakes.queues import broker_idle

pytestmark = pytest.mark.e2e


def test_ingest_triggers_fast_evaluation_coalesced(celery_processes, redis_url) -> None:
    from graphwiz_monitoring.celery import create_app

    settings = parse_settings({"redis": {"url": redis_url}}, env={})
    store, keys = Store(redis_url), KeySpace(settings.redis.namespace)
    client = redis.Redis.from_url(redis_url)
    worker = celery_processes("worker", "-Q", "ingest,rules", "-P", "solo", "--loglevel", "INFO")
    app = create_app(settings)
    for i in range(30):  # many batches in a burst: far fewer fast evaluations than batches
        app.send_task("workers.ingest.ingest_batch", args=({"batch_id": f"b{i}", "records": [
            {"kind": "exchange_status", "data": {"exchange": "binance", "connected": i < 29}}]},))
    started = time.monotonic()
    wait_until(lambda: store.r.hlen(keys.alerts_active) == 1, timeout=30, message="alert from the fast path")
    assert time.monotonic() - started < 10  # no beat: only the fast path can have created it
    (alert_id,) = store.r.hvals(keys.alerts_active)
    alert = json.loads(store.r.get(keys.alert(alert_id)))
    assert alert["rule_name"] == "exchange_disconnect" and alert["labels"] == {"exchange": "binance"}
    wait_until(lambda: broker_idle(client, "ingest") and broker_idle(client, "rules"), timeout=30,
               message="queues drained")
    fast_runs = worker.output().count("workers.rules.evaluate_fast[") // 2  # received + succeeded lines
    assert 1 <= fast_runs < 30
    assert store.r.exists(keys.fast_eval_pending) == 0  # nothing left queued
