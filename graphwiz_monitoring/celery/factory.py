"""The one Celery app (``celery -A graphwiz_monitoring worker|beat|flower``): broker, queues, options.

Queues and routes are decided here (routing.py), never by callers; the beat schedule is built from
the configured intervals (beat.py); hardening.py guards the worker against malformed messages.
"""

from __future__ import annotations

import gc
import os
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, signals
from kombu import Queue

from graphwiz_monitoring.celery import beat_thread, liveness, web_step
from graphwiz_monitoring.celery.beat import build_beat_schedule, redbeat_settings
from graphwiz_monitoring.celery.clock import RedisClock, stamp
from graphwiz_monitoring.celery.hardening import HardenedApp, HardenedTask, broker_settings
from graphwiz_monitoring.celery.routing import route_task
from graphwiz_monitoring.celery.sender import CeleryTaskSender
from graphwiz_monitoring.celery.sentinel import sentinel_transport_options
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.context import get_settings, get_store
from graphwiz_monitoring.tasks import ALL_QUEUES, METRICS

# The task modules (the repository's workers/ folder, installed as graphwiz_monitoring.workers).
TASK_MODULES = [f"graphwiz_monitoring.workers.{name}" for name in ("ingest", "metrics", "rules", "notify", "health", "recovery")]


# Longest countdown a retry may ask for. A task waiting out its countdown is held unacknowledged by
# the worker, so the countdown must stay below the broker's visibility timeout (see retry_countdown).
MAX_RETRY_COUNTDOWN_SECONDS = 600


def retry_countdown(seconds: float, settings: Settings) -> float:
    """``seconds`` capped so that a waiting retry is never redelivered early by the visibility timeout."""
    return max(0.0, min(seconds, MAX_RETRY_COUNTDOWN_SECONDS, settings.redis.visibility_timeout_seconds / 2))


def configure(app: Celery, settings: Settings) -> None:
    """Apply settings to the app: broker, queues, routes, reliability options, beat schedule."""
    state_dir = os.environ.get("GRAPHWIZ_STATE_DIR", ".graphwiz")
    redis = settings.redis
    sentinel = sentinel_transport_options(redis.sentinel_master, redis.sentinel_password.get_secret_value()
                                          if redis.sentinel_password else None) if redis.is_sentinel else {}
    app.conf.update(
        # Every accepted URL form (redis://, rediss://, unix://, sentinel://) gets the guarded transport: a malformed
        # queue item is logged and dropped instead of stopping the worker, a dead worker's messages are
        # requeued within seconds, a message popped as Redis died is put back (hardening.py).
        **broker_settings(settings.redis.url),
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # keep reconnecting through a Redis outage
        broker_transport_options={
            "visibility_timeout": settings.redis.visibility_timeout_seconds,
            "socket_timeout": settings.redis.socket_timeout_seconds,
            "socket_connect_timeout": settings.redis.socket_timeout_seconds,
            "retry_on_timeout": True,
            **sentinel,  # master_name, sentinel_kwargs: kombu's Sentinel channel finds the master each connect
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
        beat_schedule_filename=os.path.join(state_dir, "celerybeat-schedule"),  # unused by RedBeat; kept for -S
        # Several beats, one schedules (scheduler.py): the schedule and a lock in Redis (celery-redbeat).
        **redbeat_settings(settings),
        timezone="UTC",
        enable_utc=True,
    )


class GraphwizTask(HardenedTask):
    # A stamped message's expiry and ETA are re-based onto the worker's clock on receipt (clock.py).
    Request = "graphwiz_monitoring.celery.clock:RedisClockRequest"


class GraphwizApp(HardenedApp):
    """The app, with ``redis_clock``: a message asking for a max age is stamped with the Redis time.

    ``clock_offset`` (Redis minus local seconds) is set by beat's scheduler at every tick: its ``now()``
    and so the whole schedule then run on the Redis clock (scheduler.py).
    """

    redis_clock: RedisClock | None = None
    graphwiz_settings: Settings
    clock_offset: float | None = None

    def now(self) -> datetime:
        local = super().now()
        return local if self.clock_offset is None else local + timedelta(seconds=self.clock_offset)

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        stamp(options, self.redis_clock)
        return super().send_task(name, args, kwargs, **options)


@signals.worker_ready.connect(weak=False, dispatch_uid="graphwiz-queue-consumers")
def _publish_consumed_queues(sender: Any = None, **_: Any) -> None:
    """A worker of our app is ready: its heartbeat says which queues it consumes (liveness.py)."""
    if isinstance(getattr(sender, "app", None), GraphwizApp):
        liveness.watch_queues(sender)


@signals.worker_init.connect(weak=False, dispatch_uid="graphwiz-gc-freeze-main")
@signals.worker_process_init.connect(weak=False, dispatch_uid="graphwiz-gc-freeze-child")
def _freeze_for_fork(**_: Any) -> None:
    """Keep pages a worker shares with its prefork children shared (copy-on-write).

    Called in the main process before the pool forks and in each pool child as it starts: every object
    alive then leaves the garbage collector's generations, so a collection in either process no longer
    writes to the shared objects' headers (which would copy their pages into both). Those objects are
    the loaded modules and the worker's setup, alive for the process's life anyway.
    """
    gc.freeze()


@signals.worker_shutting_down.connect(weak=False, dispatch_uid="graphwiz-queue-consumers-stop")
def _withdraw_consumed_queues(**_: Any) -> None:
    liveness.forget_queues()


def redis_clock(settings: Settings) -> RedisClock:
    """Reads the Redis time through this process's store for ``settings`` (the one its tasks use)."""

    def now() -> float:
        return get_store(settings).now()

    return now


def create_app(settings: Settings) -> Celery:
    """A configured app; the trader client makes its own from the settings given to create_monitor()."""
    new = GraphwizApp("graphwiz_monitoring", include=TASK_MODULES, set_as_current=False, task_cls=GraphwizTask)
    new.redis_clock = redis_clock(settings)
    new.graphwiz_settings = settings
    configure(new, settings)
    beat_thread.install(new)
    web_step.install(new)
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
        from graphwiz_monitoring.celery.flower import adopt_flower_command

        adopt_flower_command()  # `celery -A graphwiz_monitoring flower`: Flower reads our settings, from any directory
    return _default_app


_default_sender: CeleryTaskSender | None = None


def default_sender() -> CeleryTaskSender:
    """The TaskSender over ``default_app()``: what task modules hand to the library."""
    global _default_sender
    if _default_sender is None:
        _default_sender = CeleryTaskSender(default_app())
    return _default_sender
