"""The metrics beat tasks in a real worker: host metrics land in the snapshot, trim_history runs."""

from __future__ import annotations

import json

import pytest

from graphwiz_monitoring.celery import create_app
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.metrics.snapshot import build_snapshot
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e


def test_collect_system_metrics_and_trim_history(redis_url, celery_processes, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHWIZ_HOST", "worker-host-under-test")  # inherited by the worker process
    celery_processes("worker", "-Q", "metrics", "-c", "1", "--loglevel", "INFO", "--without-gossip",
                     "--without-mingle")
    settings = parse_settings({"redis": {"url": redis_url}}, env={})
    app = create_app(settings)
    store, keys = Store(redis_url), KeySpace()
    events = store.r.pubsub()
    events.subscribe(keys.events)
    try:
        app.send_task("workers.metrics.collect_system_metrics", retry=False)
        wait_until(lambda: store.r.exists(keys.host_system("worker-host-under-test")), timeout=30,
                   message="host metrics stored")
        host = build_snapshot(store, keys, settings)["system"]["hosts"]["worker-host-under-test"]
        assert 0 <= host["cpu_percent"] <= 100 and host["memory_available_bytes"] > 0 and host["disks"]
        assert store.r.ttl(keys.host_system("worker-host-under-test")) > 0  # a silent host disappears

        def metrics_event():
            message = events.get_message(timeout=0.5)
            if message and message["type"] == "message":
                event = json.loads(message["data"])
                return event if event["type"] == "metrics" else None
            return None

        event = wait_until(metrics_event, timeout=30, interval=0, message="METRICS event with the snapshot")
        assert "worker-host-under-test" in event["data"]["system"]["hosts"]

        store.r.xadd(keys.trades, {"b1": "x"}, id="1000-0")  # ancient entry
        app.send_task("workers.metrics.trim_history", retry=False)
        wait_until(lambda: store.r.xlen(keys.trades) == 0, timeout=30, message="old history trimmed")
    finally:
        events.close()
        store.close()
