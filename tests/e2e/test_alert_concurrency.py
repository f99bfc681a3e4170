"""Four real worker processes evaluate the same breaches 1,000 times: exactly one alert and one
notification task per channel per cooldown; then exactly one resolution each. No notify worker runs,
so the notify.* queues hold exactly the tasks the rules side enqueued."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import redis

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.metrics.ingest import ingest_batch
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import wait_until
from tests.fakes.queues import broker_idle, queued_messages

pytestmark = pytest.mark.e2e

CONFIG = """
notifications:
  discord: {webhook_url: "http://127.0.0.1:9/discord-hook"}
  slack: {webhook_url: "http://127.0.0.1:9/slack-hook"}
"""
EVALUATIONS = 1000
WORKERS = 4


def _feed(store, keys, settings, batch_id: str, *, broken: bool) -> None:
    records = [
        {"kind": "exchange_status", "data": {"exchange": "binance", "connected": not broken,
                                             "rate_limit_remaining": 3.0 if broken else 900.0}},
        {"kind": "exchange_status", "data": {"exchange": "kraken", "connected": not broken}},
        {"kind": "system", "data": {"host": "e2e-host", "cpu_percent": 97.0 if broken else 5.0,
                                    "disks": {"/": 95.0 if broken else 10.0}}},
    ]
    if broken:
        records.append({"kind": "latency", "data": {"exchange": "kraken", "seconds": 7.0}})
    result = ingest_batch(store, keys, settings, {"batch_id": batch_id, "records": records})
    assert not result.rejected, result.summary()


def _run_evaluations(app, client, count: int) -> None:
    for i in range(count):
        app.send_task("workers.rules.evaluate" if i % 2 else "workers.rules.evaluate_fast")
    wait_until(lambda: broker_idle(client, "rules"), timeout=120, interval=0.2, message="rules queue drained")


def _notify_tasks(client) -> Counter:
    found: Counter = Counter()
    for channel in ("discord", "slack", "email", "telegram", "webhook", "log"):
        for m in queued_messages(client, f"notify.{channel}"):
            assert m["task"] == "workers.notify.deliver"
            alert_id, chan, kind = m["args"]
            assert chan == channel
            found[(alert_id, chan, kind)] += 1
    return found


def test_four_workers_one_alert_and_one_task_per_channel(celery_processes, redis_url, tmp_path) -> None:
    from graphwiz_monitoring.celery import create_app

    settings = parse_settings({"redis": {"url": redis_url}, "notifications": {
        "discord": {"webhook_url": "http://127.0.0.1:9/discord-hook"},
        "slack": {"webhook_url": "http://127.0.0.1:9/slack-hook"}}}, env={})
    store, keys = Store(redis_url), KeySpace(settings.redis.namespace)
    client = redis.Redis.from_url(redis_url)
    app = create_app(settings)
    _feed(store, keys, settings, "breach-1", broken=True)
    workers = [celery_processes("worker", "-Q", "rules", "-P", "solo", "-n", f"rules{i}@%h", "--loglevel", "INFO",
                                config_extra=CONFIG) for i in range(WORKERS)]

    _run_evaluations(app, client, EVALUATIONS)
    assert all(w.alive() for w in workers)
    alerts = [json.loads(store.r.get(keys.alert(i))) for i in store.r.zrange(keys.alerts_history, 0, -1)]
    about = sorted((a["rule_name"], tuple(sorted(a["labels"].items()))) for a in alerts)
    # rate_limit(binance) and high_latency(kraken) are inhibited by the disconnects of the same exchange
    assert about == [("disk_space", (("host", "e2e-host"), ("mount", "/"))),
                     ("exchange_disconnect", (("exchange", "binance"),)),
                     ("exchange_disconnect", (("exchange", "kraken"),)),
                     ("high_cpu", (("host", "e2e-host"),))]
    by_id = {a["alert_id"]: a for a in alerts}
    tasks = _notify_tasks(client)
    assert set(tasks.values()) == {1}, "a notification task was enqueued twice"
    expected = {(a["alert_id"], c, "firing") for a in alerts for c in a["channels"] if c != "email"}
    assert set(tasks) == expected  # none lost: every active channel of every alert, email is not configured
    assert Counter(c for _, c, _ in tasks) == {"discord": 4, "slack": 3, "log": 4}
    assert all(a["state"] == "firing" for a in by_id.values())
    counts = store.r.hgetall(keys.notification_counts)
    assert counts == {"discord|suppressed": "2", "slack|suppressed": "1", "log|suppressed": "2"}
    assert store.r.hgetall(keys.alert_counts) == {"exchange_disconnect|critical": "2", "high_cpu|warning": "1",
                                                  "disk_space|warning": "1"}

    _feed(store, keys, settings, "calm-1", broken=False)
    _run_evaluations(app, client, EVALUATIONS // 4)
    tasks = _notify_tasks(client)
    assert set(tasks.values()) == {1}
    resolved = {t for t in tasks if t[2] == "resolved"}
    assert resolved == {(i, c, "resolved") for i, c, _ in expected}
    assert all(json.loads(store.r.get(keys.alert(i)))["state"] == "resolved" for i in by_id)
    # kraken is back but its latency is still high: no longer inhibited, high_latency fires, once
    (late_id,) = store.r.hvals(keys.alerts_active)
    late = json.loads(store.r.get(keys.alert(late_id)))
    assert (late["rule_name"], late["labels"]) == ("high_latency", {"exchange": "kraken"})
    assert sorted(c for i, c, k in tasks if i == late_id) == ["discord", "log", "slack"]
    for w in workers:
        assert "Traceback" not in w.output(), w.output()[-3000:]
