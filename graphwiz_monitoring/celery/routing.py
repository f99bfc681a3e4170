"""Which queue a task goes to, decided by the app from the task's name (callers never name a queue)."""

from __future__ import annotations

from typing import Any

from graphwiz_monitoring import tasks

_QUEUE_BY_MODULE = {"workers.ingest": tasks.INGEST, "workers.metrics": tasks.METRICS, "workers.rules": tasks.RULES,
                    "workers.health": tasks.HEALTH, "workers.recovery": tasks.RECOVERY}


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any) -> dict[str, str]:
    """Pick the queue from the task's module; notifications go to ``notify.<channel type>``."""
    if name == tasks.NOTIFY_DELIVER:
        channel = (kwargs or {}).get("channel") or (args[1] if args and len(args) > 1 else "log")
        # An AlertChannel, its name, or a named destination of it ("telegram:ops"): the type's queue.
        name_ = str(getattr(channel, "value", channel)).strip().lower().partition(":")[0]
        if name_ not in tasks.NOTIFY_CHANNELS:
            raise ValueError(f"channel: unknown notification channel {channel!r} "
                             f"(known: {', '.join(tasks.NOTIFY_CHANNELS)})")
        return {"queue": tasks.notify_queue(name_)}
    if name == tasks.HEARTBEAT:  # its run proves a notify worker takes tasks (health/heartbeat.py)
        return {"queue": tasks.notify_queue("log")}
    module = name.rsplit(".", 1)[0]
    return {"queue": _QUEUE_BY_MODULE.get(module, tasks.METRICS)}
