"""A separate beat process sends each scheduled task to its queue at its interval; a worker started
after the entries expired discards them instead of running a stale backlog."""

from __future__ import annotations

import json
import time
from collections import Counter

import redis

from tests.conftest import wait_until

CONFIG = """
monitoring:
  metrics_interval_seconds: 1
  rule_evaluation_interval_seconds: 2
health_checks:
  checks:
    api_rate_limits: {interval_seconds: 3}
    exchange_connectivity: {enabled: false}
    neo4j_connectivity: {enabled: false}
    system_resources: {enabled: false}
    disk_space: {enabled: false}
    agent_health: {enabled: false}
    portfolio_health: {enabled: false}
    database_locks: {enabled: false}
"""


def _queued(client: redis.Redis, queue: str) -> list[dict]:
    return [json.loads(m) for m in client.lrange(queue, 0, -1)]


def test_beat_sends_each_entry_to_its_queue_at_its_interval_and_expired_entries_are_not_run(
        celery_processes, redis_url, tmp_path):
    client = redis.Redis.from_url(redis_url)
    beat = celery_processes("beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "schedule"),
                            config_extra=CONFIG)
    wait_until(lambda: "beat: Starting" in beat.output(), timeout=30, message="beat start")
    started = time.monotonic()
    wait_until(lambda: len(_queued(client, "health")) >= 2, timeout=30, message="two health checks queued")
    beat.stop()
    elapsed = time.monotonic() - started

    by_queue = {q: Counter(m["headers"]["task"] for m in _queued(client, q)) for q in ("metrics", "rules", "health")}
    collected = by_queue["metrics"]["workers.metrics.collect_system_metrics"]
    assert elapsed - 2 <= collected <= elapsed + 2, (collected, elapsed)
    assert elapsed / 2 - 2 <= by_queue["rules"]["workers.rules.evaluate"] <= elapsed / 2 + 2
    assert set(by_queue["health"]) == {"workers.health.run_check"}
    assert all(m["headers"]["argsrepr"] == "('api_rate_limits',)" for m in _queued(client, "health"))
    for queue in ("metrics", "rules", "health"):
        for message in _queued(client, queue):
            assert message["headers"]["expires"], f"{queue} entry without expires"
    assert client.llen("ingest") == 0 and client.llen("notify.log") == 0  # nothing misrouted

    time.sleep(1.5)  # every metrics entry (expires = 1 s) is now stale
    stale = collected
    worker = celery_processes("worker", "-Q", "metrics", "-c", "1", "--loglevel", "INFO", config_extra=CONFIG)
    wait_until(lambda: client.llen("metrics") == 0, timeout=30, message="metrics queue drained")
    wait_until(lambda: worker.output().count("Discarding revoked task: workers.metrics.collect_system_metrics")
               >= stale, timeout=15, message="expired entries discarded")
    ran = [line for line in worker.output().splitlines()
           if "workers.metrics.collect_system_metrics[" in line and "succeeded" in line]
    assert ran == [], "stale entries were executed"
