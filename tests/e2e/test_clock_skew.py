"""Hosts whose clocks disagree (issue 11, finding 2): workers run under libfaketime, beat and Redis keep
the true time. Periodic work runs whatever the skew, and stale entries still do not pile up."""

from __future__ import annotations

import json
import re
import time

import redis

from graphwiz_monitoring.alerting.silences import add_silence, list_silences, remove_silence
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.health.checks import run_check
from graphwiz_monitoring.health.models import HealthStatus
from graphwiz_monitoring.health.trader_report import read_trader_report
from tests.conftest import one_check_config, wait_until, write_config
from tests.fakes.trader_process import TraderProcess

INTERVAL_SECONDS = 1.0
CHECK = "api_rate_limits"
CONFIG = one_check_config(CHECK, INTERVAL_SECONDS, rule_interval=INTERVAL_SECONDS)
TRADER_STALE_SECONDS = 2.0
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


def test_clock_skew_trader_freshness_is_judged_on_the_redis_clock(tmp_path, redis_url, store, keys) -> None:
    """Finding 2c: a trader reporting every 0.2 s with its clock 120 s behind was "not reported for 120 s"
    (and its recovery skipped); one 120 s ahead would look alive for two minutes after it died."""
    config = write_config(tmp_path / "trader.yaml", redis_url,
                          f"trader:\n  poll_interval_seconds: 0.2\n  journal_dir: {tmp_path / 'journal'}\n"
                          f"health_checks:\n  trader_stale_seconds: {TRADER_STALE_SECONDS}\n")
    settings = parse_settings({"redis": {"url": redis_url},
                               "health_checks": {"trader_stale_seconds": TRADER_STALE_SECONDS}}, env={})

    def report():
        return read_trader_report(store, keys, TRADER_STALE_SECONDS)

    behind = TraderProcess(tmp_path / "behind", config, redis_url, clock_offset="-120s")
    behind.workdir.mkdir()
    behind.start()
    try:
        first = wait_until(report, timeout=30, message="first report of the trader 120 s behind")
        wait_until(lambda: report().last_seen > first.last_seen, message="its next report")
        fresh = report()
        assert not fresh.stale and fresh.age_seconds < TRADER_STALE_SECONDS, fresh.summary()
        assert -125 < fresh.clock_offset_seconds < -115, fresh.summary()  # what its clock says, for operators
        judged = run_check(settings, store, keys, "exchange_connectivity")
        assert not judged.details.get("trader_stale") and judged.status is HealthStatus.HEALTHY, judged.message
    finally:
        behind.kill()

    store.r.delete(keys.trader_heartbeat)
    ahead = TraderProcess(tmp_path / "ahead", config, redis_url, clock_offset="+120s")
    ahead.workdir.mkdir()
    ahead.start()
    try:
        wait_until(report, timeout=30, message="first report of the trader 120 s ahead")
        assert not report().stale
    finally:
        ahead.kill()
    died = time.monotonic()
    wait_until(lambda: report().stale, timeout=TRADER_STALE_SECONDS + 3, message="the dead trader judged stale")
    noticed = time.monotonic() - died
    judged = run_check(settings, store, keys, "exchange_connectivity")
    assert judged.details.get("trader_stale") and judged.status is HealthStatus.UNHEALTHY, judged.message
    print(f"\nclock skew: trader -120s judged fresh (age {fresh.age_seconds:.2f}s, offset "
          f"{fresh.clock_offset_seconds:.1f}s); trader +120s judged stale {noticed:.2f}s after its death "
          f"(limit {TRADER_STALE_SECONDS:g}s)")


SILENCE_CONFIG = CONFIG + """
alerts:
  rules: {high_cpu: {enabled: false}, high_memory: {enabled: false}, disk_space: {enabled: false}}
  custom_rules:
    skew_probe:
      condition: "timestamp > 0"
      severity: critical
      cooldown_seconds: 1
      title: always breached
      message: fires on every evaluation unless silenced
"""


def test_clock_skew_silences_are_judged_on_the_redis_clock(celery_processes, redis_url, store, keys) -> None:
    """Finding 2b: a worker 2 h ahead deleted a 30-minute silence cluster-wide and notified; one 10 minutes
    behind treated a fresh silence as not started. Both must see it in force, and only its expiry ends it."""
    silence = add_silence(store, keys, {"rule": "skew_probe"}, duration_seconds=1800, reason="deploy")

    def evaluations(worker) -> int:
        return len(_succeeded(worker.output(), "workers.rules.evaluate"))

    def fired() -> int:
        return int(store.r.hget(keys.alert_counts, "skew_probe|critical") or 0)

    def suppressed() -> int:
        return int(store.r.hget(keys.notification_counts, "log|suppressed") or 0)

    celery_processes("beat", "--loglevel", "INFO", config_extra=SILENCE_CONFIG)
    for offset in ("+2h", "-10m"):
        worker = celery_processes(*WORKER, config_extra=SILENCE_CONFIG, clock_offset=offset)
        muted_before = suppressed()
        wait_until(lambda: evaluations(worker) >= 3, timeout=30, message=f"evaluations on the worker {offset}")  # noqa: B023
        assert fired() == 0, f"the worker {offset} took the silence for not in force and fired"
        assert suppressed() > muted_before, f"the worker {offset} did not evaluate the silenced rule"
        assert [s.id for s in list_silences(store, keys)] == [silence.id], f"the worker {offset} removed it"
        left = store.r.pttl(keys.silence(silence.id)) / 1000
        assert abs(left - (silence.ends_at - store.now())) < 1, left  # it ends by its expiry, on the Redis clock
        worker.stop()

    # The check could fail: without the silence, the worker behind fires at its next evaluation.
    assert remove_silence(store, keys, silence.id)
    worker = celery_processes(*WORKER, config_extra=SILENCE_CONFIG, clock_offset="-10m")
    wait_until(lambda: fired() >= 1, timeout=30, message="the rule fires once the silence is removed")
    worker.stop()
