"""Real workers exhaust their retries: the dead-letter list holds the notification (no secrets) and the
log channel says so; `graphwiz-monitoring dlq list|retry` and `test-alert` work against the same system."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from graphwiz_monitoring.state.dead_letters import list_dead_letters
from graphwiz_monitoring.tasks import NOTIFY_QUEUES
from tests.conftest import ROOT, child_env, wait_until, write_config
from tests.fakes.notify_fixtures import (
    ALL_SECRETS,
    config_yaml,
    enqueue,
    make_settings,
    notifications_config,
    put_alert,
)

pytestmark = pytest.mark.e2e


def _cli(config, redis_url, tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_env(config, redis_url, tmp_path / "state")
    return subprocess.run([sys.executable, "-m", "graphwiz_monitoring.cli", "--config", str(config), *args],
                          cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=60)


def test_exhausted_retries_dead_letter_log_and_retry(celery_processes, redis_url, store, keys, tmp_path,
                                                     webhook_receiver, discord_fake):
    notifications = notifications_config(webhook=webhook_receiver, discord=discord_fake,
                                         retry={"max_retries": 2})
    breakers = {"recovery_timeout_seconds": 0.5}  # three failures open channel.webhook; the retry waits this
    extra = config_yaml(notifications, circuit_breakers=breakers)
    worker = celery_processes("worker", "-Q", ",".join(NOTIFY_QUEUES), "-c", "2", "--loglevel", "INFO",
                              "--without-mingle", "--without-gossip", config_extra=extra)
    config = write_config(tmp_path / "cli.yaml", redis_url, extra)
    settings = make_settings(redis_url, notifications, circuit_breakers=breakers)
    webhook_receiver.down(503)
    alert = put_alert(store, keys, title="Portfolio drawdown 15%")
    enqueue(settings, alert.alert_id, "webhook")

    entries = wait_until(lambda: list_dead_letters(store, keys), timeout=30, message="dead letter")
    (entry,) = entries
    assert entry["kind"] == "notification"
    assert entry["payload"]["alert_id"] == alert.alert_id and entry["payload"]["channel"] == "webhook"
    assert entry["payload"]["failures"] == 3
    assert entry["reason"] == "webhook: HTTP 503 (gave up after 3 attempts)"
    assert len(webhook_receiver.received()) == 3  # 1 + max_retries, then no more
    wait_until(lambda: "NOTIFICATION FAILED via webhook" in worker.output(), timeout=10, message="log notice")
    notice = next(line for line in worker.output().splitlines() if "NOTIFICATION FAILED via webhook" in line)
    assert "ERROR" in notice and "Portfolio drawdown 15%" in notice and alert.alert_id in notice

    listed = _cli(config, redis_url, tmp_path, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [e["id"] for e in json.loads(listed.stdout)] == [entry["id"]]
    table = _cli(config, redis_url, tmp_path, "dlq", "list")
    assert "dead letters: 1 in total" in table.stdout and alert.alert_id in table.stdout

    webhook_receiver.up()
    retried = _cli(config, redis_url, tmp_path, "dlq", "retry", "--all")
    assert retried.returncode == 0 and "re-queued 1 notification(s)" in retried.stdout, retried.stderr
    wait_until(lambda: len(webhook_receiver.delivered()) == 1, timeout=30, message="redelivery after dlq retry")
    assert webhook_receiver.delivered()[0].json["alert_id"] == alert.alert_id
    assert list_dead_letters(store, keys) == []
    assert _cli(config, redis_url, tmp_path, "dlq", "retry", "nope").returncode != 0

    # test-alert: delivered from the CLI process by default, through the workers with --queue.
    direct = _cli(config, redis_url, tmp_path, "test-alert", "--channel", "discord")
    assert direct.returncode == 0 and direct.stdout.strip() == "discord: sent", direct.stderr
    queued = _cli(config, redis_url, tmp_path, "test-alert", "--channel", "discord", "--queue")
    assert queued.returncode == 0 and "discord: queued" in queued.stdout
    wait_until(lambda: len(discord_fake.delivered()) == 2, timeout=30, message="queued test alert")
    titles = {r.json["embeds"][0]["title"] for r in discord_fake.delivered()}
    assert titles == {"Test notification from graphwiz-monitoring"}
    discord_fake.down(400)
    failed = _cli(config, redis_url, tmp_path, "test-alert", "--channel", "discord")
    assert failed.returncode == 1 and "discord: dead_lettered (discord: HTTP 400" in failed.stdout

    evidence = worker.output() + json.dumps(list_dead_letters(store, keys)) + listed.stdout + table.stdout
    for secret in ALL_SECRETS:
        assert secret not in evidence
