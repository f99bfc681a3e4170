"""``celery -A graphwiz_monitoring worker --beat-thread``: beat embedded as a thread of the worker's main process.

Celery's ``-B`` embeds beat as a process of its own (``celery.worker.components.Beat``), which costs a
Python process (about 25 MiB PSS, bench/footprint.py) for a service that sleeps and publishes a few
messages. ``graphwiz-monitoring run`` embeds it as a thread instead, through Celery's own
``EmbeddedService(thread=True)``; the step starts after the pool, so the prefork children are forked
before the thread exists. Standalone ``celery beat`` and ``-B`` keep working as before.
"""

from __future__ import annotations

from typing import Any

import click
from celery import Celery, bootsteps

BEAT_THREAD_OPTION = "--beat-thread"


class ThreadedBeat(bootsteps.StartStopStep):
    """Enabled by ``--beat-thread``; the service stops with the worker (``Service.stop(wait=True)``)."""

    label = "Beat (thread)"
    conditional = True
    requires = ("celery.worker.components:Pool",)

    def __init__(self, w: Any, beat_thread: bool = False, **kwargs: Any) -> None:
        self.enabled = bool(beat_thread)
        super().__init__(w, **kwargs)

    def create(self, w: Any) -> Any:
        from celery.beat import EmbeddedService

        if getattr(w, "beat", None):
            raise click.UsageError(f"{BEAT_THREAD_OPTION} and -B both embed beat: give one of them")
        return EmbeddedService(w.app, thread=True, schedule_filename=w.schedule_filename, scheduler_cls=w.scheduler)


def install(app: Celery) -> None:
    app.user_options["worker"].add(click.Option([BEAT_THREAD_OPTION], is_flag=True, default=False,
                                                help="Embed beat as a thread of this worker (instead of -B's process)."))
    app.steps["worker"].add(ThreadedBeat)
