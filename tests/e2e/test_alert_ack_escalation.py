"""Acknowledge and escalation end to end (docs/ALERTS.md): real beat, rules worker (4 processes) and notify
worker, loopback Discord and webhook fakes. One set of processes for the module.

Config shortens the production figures: the acknowledged rule repeats every second (EMERGENCY, cooldown
1 s); the escalated rule's second step comes 5 s after the episode started (production: minutes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from graphwiz_monitoring import create_monitor
from graphwiz_monitoring.metrics.ingest import ingest_batch
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import queue_lengths
from tests.conftest import CeleryProcess, RedisServer, child_env, wait_until, write_config
from tests.fakes.chat_apis import DiscordFake, WebhookReceiver
from tests.fakes.notify_fixtures import config_yaml, make_settings, notifications_config

pytestmark = pytest.mark.e2e

COOLDOWN = 1.0
STEP_TWO = 5.0
ALERTS = {
    "cooldowns": {"emergency": COOLDOWN, "warning": COOLDOWN},
    # alerts of one rule start together here: no storm grouping, so each is told at its own start
    "group_interval_seconds": 0,
    "rules": {
        # acknowledged: repeats every second on the webhook
        "rate_limit": {"severity": "emergency", "channels": ["webhook"]},
        # escalated: Discord at once, the webhook after STEP_TWO unless acknowledged
        "exchange_disconnect": {"channels": ["discord"], "escalation": [
            {"after_seconds": 0, "channels": ["discord"]}, {"after_seconds": STEP_TWO, "channels": ["webhook"]}]},
    },
}
MONITORING = {"rule_evaluation_interval_seconds": 0.2, "metrics_interval_seconds": 3600}


@dataclass
class Stack:
    url: str
    config: Path
    settings: Any
    store: Store
    keys: KeySpace
    discord: DiscordFake
    webhook: WebhookReceiver
    processes: list[CeleryProcess]

    def feed(self, exchange: str, **status: Any) -> None:
        batch = {"batch_id": f"{exchange}-{time.monotonic_ns()}",
                 "records": [{"kind": "exchange_status", "data": {"exchange": exchange, **status}}]}
        assert not ingest_batch(self.store, self.keys, self.settings, batch).rejected

    def active_id(self, rule: str, exchange: str) -> str | None:
        return self.store.r.hget(self.keys.alerts_active, next(
            (m for m in self.store.r.hkeys(self.keys.alerts_active) if m.startswith(rule + "|")
             and self._exchange(m) == exchange), "")) or None

    def _exchange(self, member: str) -> str | None:
        alert_id = self.store.r.hget(self.keys.alerts_active, member)
        import json

        return json.loads(self.store.r.get(self.keys.alert(alert_id)) or "{}").get("labels", {}).get("exchange")

    def hooks(self, alert_id: str) -> list[tuple[str, float]]:
        """(kind, arrival) of the webhook notifications of ``alert_id``."""
        return [(r.json["kind"], r.arrived) for r in self.webhook.delivered() if r.json["alert_id"] == alert_id]

    def discord_titles(self, exchange: str) -> list[float]:
        return [r.arrived for r in self.discord.delivered() if exchange in r.json["embeds"][0]["title"]]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "GRAPHWIZ_REDIS_URL": self.url}
        return subprocess.run([sys.executable, "-m", "graphwiz_monitoring.cli", "--config", str(self.config), *args],
                              capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    redis_server.clean()
    url, tmp = redis_server.url, tmp_path_factory.mktemp("ack-escalation")
    discord, webhook = DiscordFake().start(), WebhookReceiver().start()
    notifications = notifications_config(discord=discord, webhook=webhook)
    settings = make_settings(url, notifications, alerts=ALERTS, monitoring=MONITORING)
    config = write_config(tmp / "monitoring.yaml", url, config_yaml(notifications, alerts=ALERTS, monitoring=MONITORING))
    env = child_env(config, url, tmp / "state")
    processes = [
        CeleryProcess(["worker", "-Q", "rules", "-c", "4", "-n", "rules@%h", "--loglevel", "INFO"], env,
                      tmp / "rules.log"),
        CeleryProcess(["worker", "-Q", "notify.discord,notify.webhook,notify.log", "-c", "2", "-n", "notify@%h",
                       "--loglevel", "INFO"], env, tmp / "notify.log"),
    ]
    for worker in processes:
        wait_until(lambda w=worker: "ready." in w.output() or not w.alive(), timeout=60, message="worker ready")
        assert worker.alive(), worker.output()[-3000:]
    processes.append(CeleryProcess(["beat", "--loglevel", "INFO", "-s", str(tmp / "beat-schedule")], env,
                                   tmp / "beat.log"))
    s = Stack(url, config, settings, Store(url), KeySpace(settings.redis.namespace), discord, webhook, processes)
    yield s
    processes[-1].stop()  # beat first: the workers finish what it sent, then stop idle (no lost task)
    wait_until(lambda: not queue_lengths(s.store, ("rules",))["rules"], timeout=10, message="rules queue drained")
    time.sleep(0.3)
    stoppers = [threading.Thread(target=proc.stop) for proc in processes[:-1]]  # both at once: half the wait
    for t in stoppers:
        t.start()
    for t in stoppers:
        t.join()
    for proc in processes:
        assert "Traceback" not in proc.output(), proc.output()[-3000:]
    discord.stop()
    webhook.stop()
    s.store.close()


def repeats_between(stack: Stack, alert_id: str, start: float, end: float) -> list[str]:
    return [k for k, t in stack.hooks(alert_id) if k.startswith("repeat-") and start <= t <= end]


def test_cli_ack_for_stops_repeats_then_they_resume_when_it_expires(stack: Stack) -> None:
    stack.feed("ackcli", connected=True, rate_limit_remaining=1)
    alert_id = wait_until(lambda: stack.active_id("rate_limit", "ackcli"), timeout=15, message="alert active")
    wait_until(lambda: [k for k, _ in stack.hooks(alert_id) if k.startswith("repeat-")], timeout=10, interval=0.05,
               message="repeats before the ack")
    done = stack.cli("alerts", "ack", alert_id[:12], "--for", "3s", "--comment", "on it",
                     "--by", "carol")
    acked = time.monotonic()  # the ack was taken a little before: the CLI process had to exit
    assert done.returncode == 0 and "acknowledged by carol" in done.stdout, done.stdout + done.stderr
    monitor = create_monitor({"redis": {"url": stack.url}})
    shown = next(a for a in monitor.get_active_alerts() if a.alert_id == alert_id)
    assert shown.acknowledged_by == "carol" and shown.ack_comment == "on it"
    # within one repeat interval the repeats stop; after the 3 s the ack is gone and they come back
    wait_until(lambda: repeats_between(stack, alert_id, acked + 2.5, acked + 60), timeout=10, interval=0.05,
               message="repeats after the ack expired")
    assert repeats_between(stack, alert_id, acked + COOLDOWN, acked + 2.5) == []
    assert not next(a for a in monitor.get_active_alerts() if a.alert_id == alert_id).acknowledged
    stack.feed("ackcli", connected=True, rate_limit_remaining=100)


def test_api_ack_stops_repeats_and_a_severity_rise_breaks_it(stack: Stack) -> None:
    monitor = create_monitor({"redis": {"url": stack.url}, "alerts": {"cooldowns": {"warning": COOLDOWN,
                                                                                      "critical": COOLDOWN}}})
    stack.feed("ackapi", connected=True, rate_limit_remaining=1)
    alert_id = wait_until(lambda: stack.active_id("rate_limit", "ackapi"), timeout=15, message="alert active")
    wait_until(lambda: stack.hooks(alert_id), timeout=10, interval=0.05, message="first notification")
    acked_alert = monitor.acknowledge_alert(alert_id, "dave", comment="looking")
    acked = time.monotonic()
    assert acked_alert.acknowledged_by == "dave" and acked_alert.ack_expires_at is None
    # a health-like episode judged in this process: warning, acknowledged, then critical
    def judge(severity: str) -> str:
        return monitor.alert_manager.open_episode("health:disk", "disk", f"Disk {severity}", "full", severity,
                                                  channels=["webhook"])
    disk = judge("warning")
    wait_until(lambda: stack.hooks(disk), timeout=10, interval=0.05, message="disk firing")
    monitor.acknowledge_alert(disk, "dave")
    deadline = time.monotonic() + 2.5 * COOLDOWN
    while time.monotonic() < deadline:
        judge("warning")
        time.sleep(0.1)
    assert [k for k, _ in stack.hooks(disk)] == ["firing"]  # acknowledged: no repeats
    assert repeats_between(stack, alert_id, acked + COOLDOWN, time.monotonic()) == []
    judge("critical")  # worse than ever: the ack breaks, everyone hears of it at once
    wait_until(lambda: [k for k, _ in stack.hooks(disk) if k == "repeat-1"], timeout=10, interval=0.05,
               message="repeat after the rise")
    assert not next(a for a in monitor.get_active_alerts() if a.alert_id == disk).acknowledged
    monitor.alert_manager.close_episode("health:disk", "disk")
    stack.feed("ackapi", connected=True, rate_limit_remaining=100)


def test_escalation_reaches_step_two_once_after_its_delay_unless_acknowledged(stack: Stack) -> None:
    from graphwiz_monitoring.celery import create_app

    app = create_app(stack.settings)
    stack.feed("esc-open", connected=False)
    stack.feed("esc-acked", connected=False)
    open_id = wait_until(lambda: stack.active_id("exchange_disconnect", "esc-open"), timeout=15, message="alert")
    acked_id = wait_until(lambda: stack.active_id("exchange_disconnect", "esc-acked"), timeout=15, message="alert")
    stack.cli("alerts", "ack", acked_id, "--by", "erin")
    first = wait_until(lambda: stack.discord_titles("esc-open"), timeout=10, interval=0.02, message="step 1")[0]
    # 4 rule worker processes, and extra escalate tasks beside beat's around the step's due time
    time.sleep(max(0.0, first + STEP_TWO - 1.0 - time.monotonic()))
    for _ in range(40):
        app.send_task("workers.rules.escalate")
        time.sleep(0.05)
    wait_until(lambda: stack.hooks(open_id), timeout=10, interval=0.02, message="step 2")
    time.sleep(1.0)  # any duplicate would have come by now
    assert [k for k, _ in stack.hooks(open_id)] == ["escalated-2"]
    delay = stack.hooks(open_id)[0][1] - first
    assert STEP_TWO - 0.2 <= delay <= STEP_TWO + 1.0, delay
    assert stack.hooks(acked_id) == []  # acknowledged before the delay: no step 2
    # claimed once among the 4 rule processes (not merely deduplicated at delivery)
    assert stack.processes[0].output().count(f"alert {open_id} escalated: step 2") == 1
    assert len(stack.discord_titles("esc-open")) == 1 and len(stack.discord_titles("esc-acked")) == 1
