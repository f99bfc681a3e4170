"""The beat schedule, built from the configured intervals, and the configuration of beat's scheduler.

Every entry may be at most its interval old when a worker takes it, judged on the Redis clock
(clock.py), so a stopped beat or a backlog never replays stale checks whatever the hosts' clocks say;
health checks get soft < hard time limits below their interval (for intervals of 2.5 s or more; see
build_beat_schedule).
"""

from __future__ import annotations

from typing import Any

from graphwiz_monitoring import tasks
from graphwiz_monitoring.alerting import escalation
from graphwiz_monitoring.alerting.outbox import SWEEP_INTERVAL_SECONDS
from graphwiz_monitoring.celery.clock import MAX_AGE_HEADER
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.state import KeySpace

# Resolved by Celery only in a beat process (``celery beat``, ``worker -B``): nothing else imports redbeat.
SCHEDULER = "graphwiz_monitoring.celery.scheduler:GraphwizScheduler"

# How often the digest due is looked for: a digest goes out at most this late (health/digest.py).
DIGEST_TICK_SECONDS = 30.0


def build_beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """One entry per periodic job, stale after its interval, with time limits below it (60 % / 80 %).

    Staleness is the max-age header, judged on the Redis clock (clock.py): Celery's ``expires``
    compares beat's clock with the worker's, so a worker a minute ahead discarded every entry. It stays
    as the fallback for a message that could not be stamped. The limits never go under 1 s / 2 s: a job
    scheduled more often than every 2.5 s (tests do that) may then run past its next tick rather than be
    killed before it could finish a Redis round trip.
    """

    def entry(task: str, every: float, args: tuple[Any, ...] = ()) -> dict[str, Any]:
        return {
            "task": task,
            "schedule": float(every),
            "args": args,
            "options": {
                "headers": {MAX_AGE_HEADER: float(every)},
                "expires": float(every),
                "soft_time_limit": max(1.0, every * 0.6),
                "time_limit": max(2.0, every * 0.8),
            },
        }

    mon = settings.monitoring
    schedule = {
        "metrics.collect_system": entry(tasks.COLLECT_SYSTEM_METRICS, mon.metrics_interval_seconds),
        "metrics.trim_history": entry(tasks.TRIM_HISTORY, 60),
        "rules.evaluate": entry(tasks.EVALUATE_RULES, mon.rule_evaluation_interval_seconds),
        "rules.sweep_outbox": entry(tasks.SWEEP_OUTBOX, SWEEP_INTERVAL_SECONDS),
    }
    if escalation.configured(settings):  # without escalation config the schedule stays as it was
        schedule["rules.escalate"] = entry(tasks.ESCALATE, escalation.ESCALATION_TICK_SECONDS)
    if mon.heartbeat_url is not None and mon.heartbeat_url.get_secret_value():  # the URL stays out of the entry
        schedule["monitoring.heartbeat"] = entry(tasks.HEARTBEAT, mon.heartbeat_interval_seconds)
    for name, check in settings.health_checks.checks.items():
        if check.enabled:
            schedule[f"health.{name}"] = entry(tasks.RUN_CHECK, check.interval_seconds, (name,))
    if settings.alerts.digest is not None:  # the task finds the digest due on the Redis clock (health/digest.py)
        schedule["alerts.digest"] = entry(tasks.SEND_DIGEST, DIGEST_TICK_SECONDS)
    return schedule


def redbeat_settings(settings: Settings) -> dict[str, Any]:
    """The Celery configuration of beat's scheduler (scheduler.py): one active beat, standbys, from ``beat.*``."""
    keys = KeySpace(settings.redis.namespace)
    return {
        "beat_scheduler": SCHEDULER,
        "beat_max_loop_interval": settings.beat.poll_seconds,
        "redbeat_redis_url": settings.redis.url,
        "redbeat_redis_options": {},  # the client is the scheduler's own (beat_client), nothing from the broker's
        "redbeat_key_prefix": keys.beat_prefix,
        "redbeat_lock_key": keys.beat_lock,
        "redbeat_lock_timeout": settings.beat.lock_timeout_seconds,
    }
