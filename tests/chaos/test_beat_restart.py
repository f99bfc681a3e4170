"""Scenario 4: beat (and the worker) stopped and restarted. Health checks scheduled while no worker was
running expire in the queue and are discarded, not run as a burst; a restarted beat does not catch up
on the ticks it missed; the normal cadence resumes.

Timeline (check interval 1 s): beat + worker run; the worker stops while beat keeps queuing; beat stops
too; both stay down until every queued entry is stale; the worker, then beat, start again.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any

import pytest
import redis

from tests.conftest import one_check_config, wait_until

pytestmark = pytest.mark.chaos

INTERVAL_SECONDS = 1.0
NORMAL_SECONDS = 3.0  # cadence measured before the stop
BACKLOG_SECONDS = 4.0  # beat queues entries while no worker runs
DOWN_SECONDS = 2.0  # both down: every queued entry (expires = interval) is now stale
RESUMED_SECONDS = 5.0  # cadence measured after the restart
CHECK = "api_rate_limits"
TASK = "workers.health.run_check"
CONFIG = one_check_config(CHECK, INTERVAL_SECONDS, rule_interval=3600)
SENT = re.compile(r"^\[(?P<at>[\d-]+ [\d:,]+): INFO/MainProcess\] Scheduler: Sending due task health\." + CHECK)


def run_times(client: redis.Redis, keys: Any) -> list[float]:
    """When each stored result of the check was produced (health history, newest first -> sorted)."""
    return sorted(json.loads(raw)["timestamp"] for raw in client.lrange(keys.health_history(CHECK), 0, -1))


def queued_ids(client: redis.Redis, queue: str) -> list[str]:
    return [json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)]


def succeeded_ids(output: str) -> list[str]:
    return re.findall(re.escape(TASK) + r"\[([0-9a-f-]+)\] succeeded", output)


def discarded_ids(output: str) -> list[str]:
    return re.findall(r"Discarding revoked task: " + re.escape(TASK) + r"\[([0-9a-f-]+)\]", output)


def within(times: list[float], start: float, end: float) -> int:
    return sum(start <= t < end for t in times)


def test_stale_health_checks_are_discarded_and_cadence_resumes(celery_processes, redis_url, keys) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    worker_args = ("worker", "-Q", "health", "-c", "1", "--loglevel", "INFO", "--without-mingle", "--without-gossip")
    beat_args = ("beat", "--loglevel", "INFO")

    # 1. Normal operation: one run per interval (beat starts first: both warm up at the same time).
    beat = celery_processes(*beat_args, config_extra=CONFIG)
    worker = celery_processes(*worker_args, config_extra=CONFIG)
    wait_until(lambda: run_times(client, keys), timeout=30, message="first scheduled check")
    normal_start = time.time()
    time.sleep(NORMAL_SECONDS)
    normal_runs = within(run_times(client, keys), normal_start, normal_start + NORMAL_SECONDS)
    assert NORMAL_SECONDS / INTERVAL_SECONDS - 2 <= normal_runs <= NORMAL_SECONDS / INTERVAL_SECONDS + 1

    # 2. The worker stops; beat keeps queuing entries nobody runs. Then beat stops as well.
    worker.stop()
    stopped_at = time.time()
    time.sleep(BACKLOG_SECONDS)
    beat.stop()
    beat_stopped_at = time.time()
    backlog = queued_ids(client, "health")
    assert len(backlog) >= BACKLOG_SECONDS / INTERVAL_SECONDS - 1, backlog
    time.sleep(DOWN_SECONDS)
    assert within(run_times(client, keys), stopped_at + 0.5, time.time()) == 0  # nothing ran meanwhile

    # 3. Restart: the worker first (it meets the stale backlog), then beat (persisted schedule, missed ticks).
    restarted = celery_processes(*worker_args, config_extra=CONFIG)
    wait_until(lambda: client.llen("health") == 0, timeout=30, message="stale backlog taken off the queue")
    wait_until(lambda: set(backlog) <= set(discarded_ids(restarted.output())), timeout=15,
               message="every stale entry discarded")
    assert not set(backlog) & set(succeeded_ids(restarted.output())), "a stale check was executed"
    assert within(run_times(client, keys), stopped_at + 0.5, time.time()) == 0
    new_beat = celery_processes(*beat_args, config_extra=CONFIG)
    wait_until(lambda: "beat: Starting" in new_beat.output(), timeout=30, message="beat restart")
    resumed_start = time.time()
    time.sleep(RESUMED_SECONDS)
    times = run_times(client, keys)
    resumed = [t for t in times if t >= resumed_start - 0.5]

    # No catch-up burst from beat: the ticks it missed are not sent; one entry is due at once, then one per interval.
    sent = [datetime.strptime(m["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            for m in (SENT.match(line) for line in new_beat.output().splitlines()) if m]
    first_two = sum(t < sent[0] + 2 * INTERVAL_SECONDS - 0.1 for t in sent)
    assert first_two <= 2, f"beat sent {first_two} entries in its first {2 * INTERVAL_SECONDS:g}s"
    assert len(sent) <= RESUMED_SECONDS / INTERVAL_SECONDS + 2, len(sent)
    # Cadence resumed: about one run per interval, no long gap.
    expected = RESUMED_SECONDS / INTERVAL_SECONDS
    assert expected - 2 <= len(resumed) <= expected + 2, (len(resumed), expected)
    gaps = [b - a for a, b in zip(resumed, resumed[1:], strict=False)]
    assert gaps and max(gaps) < 3.5 * INTERVAL_SECONDS, gaps  # a tick may expire unrun on a busy machine
    assert beat_stopped_at - stopped_at >= BACKLOG_SECONDS
    print(f"\nscenario 4: normal {normal_runs} runs/{NORMAL_SECONDS:g}s; backlog {len(backlog)} stale entries, "
          f"{len(set(backlog) & set(discarded_ids(restarted.output())))} discarded, 0 executed; after restart "
          f"beat sent {first_two} in its first {2 * INTERVAL_SECONDS:g}s, {len(resumed)} runs/{RESUMED_SECONDS:g}s, "
          f"max gap {max(gaps):.2f}s")
