"""Hosts whose clocks disagree (issue 11, finding 2): workers run under libfaketime, beat and Redis keep
the true time. Periodic work runs whatever the skew, and stale entries still do not pile up."""

from __future__ import annotations

import json
import re
import time

import redis

from tests.conftest import wait_until

INTERVAL_SECONDS = 1.0
CHECK = "api_rate_limits"
CONFIG = f"""
monitoring:
  metrics_interval_seconds: 3600
  rule_evaluation_interval_seconds: {INTERVAL_SECONDS}
health_checks:
  checks:
    {CHECK}: {{interval_seconds: {INTERVAL_SECONDS}, recovery: []}}
    exchange_connectivity: {{enabled: false}}
    neo4j_connectivity: {{enabled: false}}
    system_resources: {{enabled: false}}
    disk_space: {{enabled: false}}
    agent_health: {{enabled: false}}
    portfolio_health: {{enabled: false}}
    database_locks: {{enabled: false}}
"""
WORKER = ("worker", "-Q", "health,rules", "-c", "1", "--loglevel", "INFO", "--without-mingle", "--without-gossip")


def _succeeded(output: str, task: str) -> list[str]:
    return re.findall(re.escape(task) + r"\[([0-9a-f-]+)\] succeeded", output)


def _discarded(output: str, task: str) -> list[str]:
    return re.findall(r"Discarding revoked task: " + re.escape(task) + r"\[([0-9a-f-]+)\]", output)


def _queued_ids(client: redis.Redis, queue: str) -> list[str]:
    return [json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)]


def test_clock_skew_periodic_tasks_run_on_a_worker_ahead_of_beat_and_stale_ones_are_dropped_by_one_behind(
        celery_processes, redis_url, keys) -> None:
    """Finding 2a: ``expires`` was an absolute time on beat's clock, so a worker 60 s ahead discarded every
    periodic task. Ahead by 5 minutes, the worker runs each of them; behind by 5 minutes, a worker still
    discards the entries that went stale while nobody consumed them (scenario 4 under skew)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    beat = celery_processes("beat", "--loglevel", "INFO", config_extra=CONFIG)
    ahead = celery_processes(*WORKER, config_extra=CONFIG, clock_offset="+300s")
    wait_until(lambda: "beat: Starting" in beat.output(), timeout=30, message="beat start")

    # 1. Ahead: every tick runs (before the fix, each one was "Discarding revoked task").
    wait_until(lambda: client.llen(keys.health_history(CHECK)) >= 1 and _succeeded(ahead.output(),
               "workers.rules.evaluate"), timeout=30, message="first periodic runs on the worker 5 min ahead")
    checks_before = client.llen(keys.health_history(CHECK))
    evaluations_before = len(_succeeded(ahead.output(), "workers.rules.evaluate"))
    window = 5.0
    time.sleep(window)
    checks = client.llen(keys.health_history(CHECK)) - checks_before
    evaluations = len(_succeeded(ahead.output(), "workers.rules.evaluate")) - evaluations_before
    discarded = _discarded(ahead.output(), "workers.health.run_check") + _discarded(ahead.output(),
                                                                                    "workers.rules.evaluate")
    assert checks >= window / INTERVAL_SECONDS - 2, (checks, ahead.output()[-2000:])
    assert evaluations >= window / INTERVAL_SECONDS - 2, (evaluations, ahead.output()[-2000:])
    assert discarded == [], f"{len(discarded)} fresh periodic tasks discarded as expired"

    # 2. Behind: entries queued while no worker ran, then left for longer than their interval, are
    # discarded by a worker whose clock is 5 minutes late (before the fix it ran the whole backlog).
    ahead.stop()
    wait_until(lambda: client.llen("health") >= 3, timeout=15, message="a backlog of queued checks")
    beat.stop()
    backlog = _queued_ids(client, "health") + _queued_ids(client, "rules")
    time.sleep(INTERVAL_SECONDS + 0.5)
    behind = celery_processes(*WORKER, config_extra=CONFIG, clock_offset="-300s")
    wait_until(lambda: client.llen("health") == 0 and client.llen("rules") == 0, timeout=30,
               message="stale backlog taken off the queues")
    def dropped() -> set[str]:
        out = behind.output()
        return set(_discarded(out, "workers.health.run_check")) | set(_discarded(out, "workers.rules.evaluate"))

    wait_until(lambda: set(backlog) <= dropped(), timeout=15, message="every stale entry discarded")
    ran = set(_succeeded(behind.output(), "workers.health.run_check")) | set(
        _succeeded(behind.output(), "workers.rules.evaluate"))
    assert not set(backlog) & ran, "a stale periodic task was executed"
    print(f"\nclock skew: worker +300s ran {checks} checks and {evaluations} evaluations in {window:g}s, "
          f"0 discarded; worker -300s discarded {len(backlog)}/{len(backlog)} stale entries, ran 0")
