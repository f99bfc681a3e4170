"""A process dies right after creating an alert, before enqueueing its notification: a real worker's
outbox sweep (``workers.rules.sweep_outbox``) delivers it to a loopback webhook, exactly once."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from graphwiz_monitoring.alerting.outbox import pending
from graphwiz_monitoring.celery import CeleryTaskSender, create_app
from tests.conftest import ROOT, child_env, wait_until, write_config
from tests.fakes.notify_fixtures import config_yaml, make_settings, notifications_config

pytestmark = pytest.mark.e2e

# The "trader": stores a manual alert, then dies (exit 9, no cleanup) when it would enqueue the task.
DYING_PROCESS = textwrap.dedent("""
    import os, sys
    from graphwiz_monitoring.alerting.manager import AlertManager
    from graphwiz_monitoring.config import load_settings
    from graphwiz_monitoring.state import KeySpace, Store

    settings = load_settings(sys.argv[1])
    manager = AlertManager(Store(settings.redis.url), KeySpace(settings.redis.namespace), settings,
                           dispatch=lambda *args: os._exit(9))
    manager.create_manual_alert("Exchange binance down", "no heartbeat", "critical", channels=["webhook"])
""")
SWEEP_TASK = "workers.rules.sweep_outbox"


def test_notification_of_a_dead_process_is_swept_and_delivered_once(celery_processes, redis_url, store, keys,
                                                                     tmp_path, webhook_receiver):
    notifications = notifications_config(webhook=webhook_receiver)
    extra = config_yaml(notifications)
    config = write_config(tmp_path / "trader.yaml", redis_url, extra)
    died = subprocess.run([sys.executable, "-c", DYING_PROCESS, str(config)], cwd=str(ROOT),
                          env=child_env(config, redis_url, tmp_path / "state"), capture_output=True, timeout=60)
    assert died.returncode == 9, died.stderr.decode(errors="replace")[-2000:]
    (entry,) = pending(store, keys)
    alert_id, kind = entry.split("|")
    assert kind == "firing" and store.r.exists(keys.alert(alert_id))

    worker = celery_processes("worker", "-Q", "rules,notify.webhook", "-c", "2", "--loglevel", "INFO",
                              "--without-mingle", "--without-gossip", config_extra=extra)
    app = create_app(make_settings(redis_url, notifications))
    app.send_task(SWEEP_TASK, kwargs={"grace_seconds": 0})
    wait_until(lambda: len(webhook_receiver.delivered()) == 1, timeout=20, message="swept notification delivered")
    assert webhook_receiver.delivered()[0].json["alert_id"] == alert_id
    assert pending(store, keys) == []

    app.send_task(SWEEP_TASK, kwargs={"grace_seconds": 0})  # nothing left to hand over
    wait_until(lambda: worker.output().count(f"{SWEEP_TASK}[") >= 4, timeout=20,
               message="second sweep received and finished")
    assert len(webhook_receiver.received()) == 1


def test_a_notification_task_lost_by_the_broker_is_enqueued_again_and_delivered_once(
        celery_processes, redis_url, store, keys, tmp_path, webhook_receiver):
    """The broker accepted the task, then lost it (what Redis killed as a worker's BRPOP takes it leaves):
    its mark in notify:handed outlives it, and the sweep enqueues it again once its queue is empty."""
    from graphwiz_monitoring.alerting.manager import AlertManager

    notifications = notifications_config(webhook=webhook_receiver)
    extra = config_yaml(notifications)
    settings = make_settings(redis_url, notifications)
    app = create_app(settings)
    manager = AlertManager(store, keys, settings, sender=CeleryTaskSender(app))  # real tasks; no worker yet
    alert = manager.create_manual_alert("Exchange binance down", "no heartbeat", "critical", channels=["webhook"])
    assert pending(store, keys) == []  # handed over: the outbox entry is gone
    assert store.r.zrange(keys.notify_handed, 0, -1) == [f"{alert.alert_id}|firing|webhook"]
    assert store.r.rpop("notify.webhook")  # lost

    worker = celery_processes("worker", "-Q", "rules,notify.webhook", "-c", "2", "--loglevel", "INFO",
                              "--without-mingle", "--without-gossip", config_extra=extra)
    app.send_task(SWEEP_TASK, kwargs={"grace_seconds": 0})
    wait_until(lambda: len(webhook_receiver.delivered()) == 1, timeout=20, message="re-sent notification delivered")
    assert webhook_receiver.delivered()[0].json["alert_id"] == alert.alert_id
    wait_until(lambda: store.r.zcard(keys.notify_handed) == 0, timeout=10, message="the mark removed by the task")

    app.send_task(SWEEP_TASK, kwargs={"grace_seconds": 0})  # nothing left: no second send
    wait_until(lambda: worker.output().count(f"{SWEEP_TASK}[") >= 4, timeout=20,
               message="second sweep received and finished")
    assert len(webhook_receiver.received()) == 1
    assert "never started (lost by the broker)" in worker.output()
