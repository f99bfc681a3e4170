"""Stale data is not a fact (issue 13 item 3), end to end: a real trader process (tests/fakes/
disconnect_trader.py, ``trader.name: alpha``) reports kraken disconnected and exits. Real ingest, rules and
notify workers, evaluations sent as the beat would (only faster), a loopback webhook receiver.

Within ``health_checks.trader_stale_seconds`` (2 s here) plus an evaluation, the ``exchange_disconnect``
episode ends as ``stale`` (one "stale" notice, never "resolved"), ``trader_down`` fires for alpha, and no
further ``exchange_disconnect`` notification goes out over several cooldowns (1 s here): before, the rule
kept firing (repeating) on the dead trader's last report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import ROOT, child_env, wait_until, write_config
from tests.fakes.notify_fixtures import config_yaml, make_settings, notifications_config

pytestmark = pytest.mark.e2e

STALE_SECONDS = 2.0
COOLDOWN = 1.0
EVALUATION_INTERVAL = 0.2
ALERTS = {"cooldowns": {"critical": COOLDOWN}, "resolve_after_seconds": 1,
          "rules": {"exchange_disconnect": {"channels": ["webhook", "log"]},
                    "trader_down": {"channels": ["webhook", "log"]}}}
HEALTH = {"trader_stale_seconds": STALE_SECONDS}


def _hooks(webhook: Any, rule: str) -> list[tuple[str, str, dict[str, str], float]]:
    """(alert id, kind, labels, arrival) of ``rule``'s webhook notifications, in arrival order."""
    return [(r.json["alert_id"], r.json["kind"], r.json["labels"], r.arrived) for r in webhook.delivered()
            if r.json.get("rule") == rule]


def test_a_trader_that_exits_ends_its_alerts_as_stale_and_trader_down_fires(
        tmp_path: Path, redis_url: str, celery_processes: Any, webhook_receiver: Any) -> None:
    from graphwiz_monitoring.celery import create_app

    notifications = notifications_config(webhook=webhook_receiver)
    settings = make_settings(redis_url, notifications, alerts=ALERTS, health_checks=HEALTH)
    store, keys = Store(redis_url), KeySpace(settings.redis.namespace)
    extra = config_yaml(notifications, alerts=ALERTS, health_checks=HEALTH)
    workers = [celery_processes("worker", "-Q", "ingest", "-c", "1", "-n", "ingest@%h", "--loglevel", "INFO",
                                "--without-gossip", "--without-mingle", config_extra=extra),
               celery_processes("worker", "-Q", "rules", "-c", "1", "-n", "rules@%h", "--loglevel", "INFO",
                                "--without-gossip", "--without-mingle", config_extra=extra),
               celery_processes("worker", "-Q", "notify.webhook,notify.log", "-c", "2", "-n", "notify@%h",
                                "--loglevel", "INFO", "--without-gossip", "--without-mingle", config_extra=extra)]
    app = create_app(settings)
    stop = threading.Event()

    def drive() -> None:  # evaluations, as the beat sends them (rule_evaluation_interval_seconds), only faster
        while not stop.wait(EVALUATION_INTERVAL):
            app.send_task("workers.rules.evaluate")

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    workdir = tmp_path / "alpha"
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps({
        "redis": {"url": redis_url}, "monitoring": {"enable_prometheus": False},
        "trader": {"name": "alpha", "heartbeat_interval_seconds": 0.3, "journal_dir": str(workdir / "journal")}}))
    env = child_env(write_config(workdir / "monitoring.yaml", redis_url), redis_url, workdir / "state")
    with open(workdir / "trader.log", "wb") as log:
        trader = subprocess.Popen([sys.executable, "-m", "tests.fakes.disconnect_trader",
                                   str(workdir / "config.json"), str(workdir), "kraken"],
                                  cwd=str(ROOT), env=env, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: (workdir / "events.jsonl").exists() or trader.poll() is not None, timeout=30,
                   message="trader reported")
        assert trader.poll() is None, (workdir / "trader.log").read_text()[-3000:]
        # the live trader's report is a fact: exchange_disconnect fires (and repeats every cooldown)
        wait_until(lambda: [h for h in _hooks(webhook_receiver, "exchange_disconnect") if h[1] == "repeat-1"],
                   timeout=20, interval=0.05, message="exchange_disconnect firing and repeating")
        (alert_id, kind, labels, _), *_ = _hooks(webhook_receiver, "exchange_disconnect")
        assert kind == "firing" and labels == {"exchange": "kraken"}
        assert not _hooks(webhook_receiver, "trader_down")

        assert trader.stdin is not None
        trader.stdin.close()
        trader.wait(timeout=30)
        exited = time.monotonic()

        # within trader_stale_seconds + one evaluation (+ delivery): its episode ends as stale, one notice
        wait_until(lambda: [h for h in _hooks(webhook_receiver, "exchange_disconnect") if h[1] == "stale"],
                   timeout=STALE_SECONDS + 10, interval=0.05, message="exchange_disconnect stale notice")
        stale_at = next(h[3] for h in _hooks(webhook_receiver, "exchange_disconnect") if h[1] == "stale")
        assert stale_at - exited <= STALE_SECONDS + EVALUATION_INTERVAL + 2.5, stale_at - exited
        record = json.loads(store.r.get(keys.alert(alert_id)))
        assert record["state"] == "stale"
        assert alert_id not in store.r.hvals(keys.alerts_active)

        # trader_down fires for alpha (CRITICAL, one episode)
        wait_until(lambda: _hooks(webhook_receiver, "trader_down"), timeout=10, interval=0.05,
                   message="trader_down firing")
        down_id, down_kind, down_labels, _ = _hooks(webhook_receiver, "trader_down")[0]
        assert down_kind == "firing" and down_labels == {"trader": "alpha"}
        assert json.loads(store.r.get(keys.alert(down_id)))["severity"] == "critical"
        assert down_id in store.r.hvals(keys.alerts_active)

        # several cooldowns later (trader_down repeats thrice meanwhile): exchange_disconnect said nothing more
        wait_until(lambda: [h for h in _hooks(webhook_receiver, "trader_down") if h[1] == "repeat-3"],
                   timeout=15, interval=0.05, message="three trader_down repeats")
        kinds = [h[1] for h in _hooks(webhook_receiver, "exchange_disconnect")]
        assert kinds[0] == "firing" and kinds[-1] == "stale" and kinds.count("stale") == 1, kinds
        assert "resolved" not in kinds
        assert {h[0] for h in _hooks(webhook_receiver, "exchange_disconnect")} == {alert_id}
        assert [h[0] for h in _hooks(webhook_receiver, "trader_down")] == [down_id] * 4
    finally:
        stop.set()
        driver.join(5)
        if trader.poll() is None:
            trader.kill()
            trader.wait(timeout=5)
    for worker in workers:
        assert "Traceback" not in worker.output(), worker.output()[-3000:]
