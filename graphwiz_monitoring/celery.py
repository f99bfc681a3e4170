"""The one Celery app (``celery -A graphwiz_monitoring worker|beat|flower``).

With celery_hardening.py (guards against malformed messages, fast reconnection) the only modules
importing celery: the library stays Celery-free.

Queues and routes are decided here, never by callers. The beat schedule is built from the configured
intervals; every entry may be at most its interval old when a worker takes it, judged on the Redis
clock (celery_clock.py), so a stopped beat or a backlog never replays stale checks whatever the hosts'
clocks say; health checks get soft < hard time limits below their interval (for intervals of 2.5 s or
more; see build_beat_schedule).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from kombu import Queue

from .alerting.models import AlertChannel
from .alerting.outbox import SWEEP_INTERVAL_SECONDS
from .celery_clock import MAX_AGE_HEADER, RedisClock, stamp
from .celery_hardening import HardenedApp, HardenedTask, broker_settings
from .config import Settings
from .context import get_settings, get_store

INGEST, METRICS, RULES, HEALTH, RECOVERY = "ingest", "metrics", "rules", "health", "recovery"
NOTIFY_QUEUES = tuple(c.queue for c in AlertChannel)
ALL_QUEUES = (INGEST, METRICS, RULES, HEALTH, RECOVERY, *NOTIFY_QUEUES)

TASK_MODULES = ["workers.ingest", "workers.metrics", "workers.rules", "workers.notify",
                "workers.health", "workers.recovery"]
_QUEUE_BY_MODULE = {"workers.ingest": INGEST, "workers.metrics": METRICS, "workers.rules": RULES,
                    "workers.health": HEALTH, "workers.recovery": RECOVERY}


# Longest countdown a retry may ask for. A task waiting out its countdown is held unacknowledged by
# the worker, so the countdown must stay below the broker's visibility timeout (see retry_countdown).
MAX_RETRY_COUNTDOWN_SECONDS = 600


def retry_countdown(seconds: float, settings: Settings) -> float:
    """``seconds`` capped so that a waiting retry is never redelivered early by the visibility timeout."""
    return max(0.0, min(seconds, MAX_RETRY_COUNTDOWN_SECONDS, settings.redis.visibility_timeout_seconds / 2))


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any) -> dict[str, str]:
    """Pick the queue from the task's module; notifications go to ``notify.<channel>``."""
    if name == "workers.notify.deliver":
        channel = (kwargs or {}).get("channel") or (args[1] if args and len(args) > 1 else "log")
        return {"queue": AlertChannel.parse(channel).queue}
    module = name.rsplit(".", 1)[0]
    return {"queue": _QUEUE_BY_MODULE.get(module, METRICS)}


def build_beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """One entry per periodic job, stale after its interval, with time limits below it (60 % / 80 %).

    Staleness is the max-age header, judged on the Redis clock (celery_clock.py): Celery's ``expires``
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
        "metrics.collect_system": entry("workers.metrics.collect_system_metrics", mon.metrics_interval_seconds),
        "metrics.trim_history": entry("workers.metrics.trim_history", 60),
        "rules.evaluate": entry("workers.rules.evaluate", mon.rule_evaluation_interval_seconds),
        "rules.sweep_outbox": entry("workers.rules.sweep_outbox", SWEEP_INTERVAL_SECONDS),
    }
    for name, check in settings.health_checks.checks.items():
        if check.enabled:
            schedule[f"health.{name}"] = entry("workers.health.run_check", check.interval_seconds, (name,))
    return schedule


def configure(app: Celery, settings: Settings) -> None:
    """Apply settings to the app: broker, queues, routes, reliability options, beat schedule."""
    state_dir = os.environ.get("GRAPHWIZ_STATE_DIR", ".graphwiz")
    app.conf.update(
        # Every accepted URL form (redis://, rediss://, unix://) gets the guarded transport: a malformed
        # queue item is logged and dropped instead of stopping the worker, a dead worker's messages are
        # requeued within seconds, a message popped as Redis died is put back (celery_hardening.py).
        **broker_settings(settings.redis.url),
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # keep reconnecting through a Redis outage
        broker_transport_options={
            "visibility_timeout": settings.redis.visibility_timeout_seconds,
            "socket_timeout": settings.redis.socket_timeout_seconds,
            "socket_connect_timeout": settings.redis.socket_timeout_seconds,
            "retry_on_timeout": True,
        },
        task_queues=[Queue(q, routing_key=q) for q in ALL_QUEUES],
        task_default_queue=METRICS,
        task_routes=(route_task,),
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        # Delivery guarantees (DESIGN.md): ack after the work, requeue if the child dies,
        # cancel rather than duplicate when the broker connection drops mid-task.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=50,
        task_time_limit=60,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        beat_schedule=build_beat_schedule(settings),
        beat_schedule_filename=os.path.join(state_dir, "celerybeat-schedule"),
        timezone="UTC",
        enable_utc=True,
    )


class GraphwizTask(HardenedTask):
    # A stamped message's expiry and ETA are re-based onto the worker's clock on receipt (celery_clock.py).
    Request = "graphwiz_monitoring.celery_clock:RedisClockRequest"


class GraphwizApp(HardenedApp):
    """The app, with ``redis_clock``: a message asking for a max age is stamped with the Redis time."""

    redis_clock: RedisClock | None = None

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        stamp(options, self.redis_clock)
        return super().send_task(name, args, kwargs, **options)


def redis_clock(settings: Settings) -> RedisClock:
    """Reads the Redis time through this process's store for ``settings`` (the one its tasks use)."""

    def now() -> float:
        return get_store(settings).now()

    return now


def create_app(settings: Settings) -> Celery:
    """A configured app; the trader client makes its own from the settings given to create_monitor()."""
    new = GraphwizApp("graphwiz_monitoring", include=TASK_MODULES, set_as_current=False, task_cls=GraphwizTask)
    new.redis_clock = redis_clock(settings)
    configure(new, settings)
    return new


_default_app: Celery | None = None


def default_app() -> Celery:
    """The app of worker, beat and CLI processes, built from this process's settings on first use.

    Built lazily (``graphwiz_monitoring.celery.app`` goes through the module ``__getattr__``) so that a
    trader importing this module for ``create_app(settings)`` never reads ./monitoring.yaml or
    creates a state directory in its working directory.
    """
    global _default_app
    if _default_app is None:
        _default_app = create_app(get_settings())
        os.makedirs(os.path.dirname(_default_app.conf.beat_schedule_filename) or ".", exist_ok=True)
        _default_app.set_current()
    return _default_app


def __getattr__(name: str) -> Any:
    if name == "app":  # what `celery -A graphwiz_monitoring` and workers/*.py look up
        return default_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def send(task_name: str, *args: Any, celery_app: Celery | None = None, **kwargs: Any) -> Any:
    """Enqueue a task by name from library code without importing workers; raises if the broker is down.

    kombu's own publish retry is off so that the caller (e.g. the trader's shipper thread) decides
    how to wait, instead of blocking inside kombu.
    """
    return (celery_app or default_app()).send_task(task_name, args=args, kwargs=kwargs, retry=False)
