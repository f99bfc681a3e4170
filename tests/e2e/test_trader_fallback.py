"""The trader's own fallback (issue 15 item 4): with no worker recording its batches, the trader tells a
loopback webhook itself, exactly once, after ``trader.pipeline_stale_seconds``, and once more ("back")
when a worker starts. Real processes: a trader (tests/fakes/fallback_trader.py), redis-server, a Celery
ingest worker; the webhook is a loopback HTTP fake. Two pipelines are dead in two ways: Redis up with no
worker (batches queue, none recorded), and Redis down entirely (batches journaled).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from graphwiz_monitoring.alerting.channels.webhook import verify_signature
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import ROOT, CeleryProcess, RedisServer, child_env, wait_until, write_config
from tests.fakes.chat_apis import WebhookReceiver
from tests.fakes.notify_fixtures import ALL_SECRETS, WEBHOOK_SECRET, config_yaml, notifications_config

pytestmark = pytest.mark.e2e

STALE_SECONDS = 2.0
INGEST_WORKER = ("worker", "-Q", "ingest", "-c", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle")


def trader_config(path: Path, redis_url: str, webhook: WebhookReceiver, journal: Path) -> Path:
    extra = config_yaml(notifications_config(webhook=webhook), trader={
        "pipeline_stale_seconds": STALE_SECONDS, "fallback_channels": ["webhook"], "journal_dir": str(journal),
        "heartbeat_interval_seconds": 0.5, "resend_unconfirmed_after_seconds": 60})
    return write_config(path, redis_url, extra)


class Trader:
    def __init__(self, tmp_path: Path, redis_url: str, webhook: WebhookReceiver) -> None:
        self.config = trader_config(tmp_path / "trader.yaml", redis_url, webhook, tmp_path / "journal")
        self.log = tmp_path / "trader.log"
        self.started = time.monotonic()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.fallback_trader", str(self.config)],
                                         cwd=str(ROOT), env=child_env(self.config, redis_url, tmp_path / "state"),
                                         stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def notices(webhook: WebhookReceiver) -> list[Any]:
    return [r for r in webhook.received() if r.status == 200]


def kinds(webhook: WebhookReceiver) -> list[str]:
    return [r.json["kind"] for r in notices(webhook)]


def check_notices(webhook: WebhookReceiver, trader: Trader, worker_ready: float) -> dict[str, float]:
    """Exactly one down (after pipeline_stale_seconds) then one back (after the worker started); figures."""
    down, back = notices(webhook)
    assert [down.json["kind"], back.json["kind"]] == ["firing", "resolved"], kinds(webhook)
    assert down.json["title"] == "Monitoring pipeline down" and down.json["rule"] == "graphwiz_pipeline_down"
    assert back.json["title"] == "Monitoring pipeline back" and back.json["alert_id"] == down.json["alert_id"]
    assert down.json["severity"] == "critical"
    for request in (down, back):  # signed with the trader's own webhook secret
        assert verify_signature(WEBHOOK_SECRET, request.body, request.headers)
    assert down.arrived - trader.started >= STALE_SECONDS
    assert back.arrived >= worker_ready
    output = trader.output()
    for secret in ALL_SECRETS:
        assert secret not in output, secret
    return {"down_after_start_s": round(down.arrived - trader.started, 2),
            "back_after_worker_ready_s": round(back.arrived - worker_ready, 2)}


def worker_ready(proc: CeleryProcess) -> float:
    wait_until(lambda: "ready." in proc.output() or not proc.alive(), timeout=30, message="celery worker ready")
    assert proc.alive(), proc.output()[-3000:]
    return time.monotonic()


def test_no_worker_then_a_worker_one_down_and_one_back_notice(tmp_path, redis_url, webhook_receiver,
                                                               celery_processes) -> None:
    trader = Trader(tmp_path, redis_url, webhook_receiver)
    try:
        wait_until(lambda: notices(webhook_receiver), timeout=30, message="the pipeline down notice")
        proc = celery_processes(*INGEST_WORKER, ready_timeout=30)
        ready = time.monotonic()
        wait_until(lambda: len(notices(webhook_receiver)) >= 2, timeout=30, message="the back notice")
        # Shipping goes on after "back" (the worker records 100 more batches): no new "down" meanwhile.
        store = Store(redis_url)
        seen_key = KeySpace(parse_settings({}, env={}).redis.namespace).batches_seen
        recorded = store.r.zcard(seen_key)
        wait_until(lambda: store.r.zcard(seen_key) >= recorded + 100, timeout=30, message="100 more batches recorded")
        store.close()
        assert proc.alive() and trader.proc.poll() is None, trader.output()[-3000:]
    finally:
        trader.stop()
    figures = check_notices(webhook_receiver, trader, ready)
    print("fallback, no worker:", figures)


def test_redis_down_entirely_counts_as_pipeline_down(tmp_path, webhook_receiver) -> None:
    redis = RedisServer(tmp_path / "redis")  # not started: the trader journals its batches
    trader = Trader(tmp_path, redis.url, webhook_receiver)
    worker = None
    try:
        wait_until(lambda: notices(webhook_receiver), timeout=30, message="the pipeline down notice")
        assert "journal" in trader.output()
        redis.start()
        config = write_config(tmp_path / "worker.yaml", redis.url)
        worker = CeleryProcess(list(INGEST_WORKER), child_env(config, redis.url, tmp_path / "state"),
                               tmp_path / "worker.log")
        ready = worker_ready(worker)
        wait_until(lambda: len(notices(webhook_receiver)) >= 2, timeout=30, message="the back notice")
    finally:
        trader.stop()
        if worker is not None:
            worker.stop()
        redis.stop()
    figures = check_notices(webhook_receiver, trader, ready)
    print("fallback, Redis down:", figures)
