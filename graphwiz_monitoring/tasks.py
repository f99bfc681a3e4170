"""Queue and task names, queue lengths, and the TaskSender protocol: what the library knows of Celery.

Celery-free on purpose: the trader, the exporter and the CLI use these names without loading Celery.
The one implementation of ``TaskSender`` lives in ``graphwiz_monitoring.celery.sender``; a process
builds it once (the trader in ``TradingMonitor``, workers from their app) and hands it down.

Task names keep the ``workers.`` prefix: traders enqueue ``workers.ingest.record_trade`` by name
with their own plain Celery app, so those names are a public API.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from graphwiz_monitoring.state import Store

INGEST, METRICS, RULES, HEALTH, RECOVERY = "ingest", "metrics", "rules", "health", "recovery"
# Celery's own default queue: where a trader's plain Celery app (no routes) puts workers.ingest.record_trade.
# Ingest workers consume it beside `ingest`; our own app never routes a task there (celery/routing.py).
CELERY_DEFAULT = "celery"
INGEST_QUEUES = (INGEST, CELERY_DEFAULT)  # what every ingest worker consumes (-Q ingest,celery)
# One queue per notification channel, so a slow or failing channel never delays another.
NOTIFY_CHANNELS = ("discord", "slack", "email", "telegram", "webhook", "log")
NOTIFY_QUEUES = tuple(f"notify.{channel}" for channel in NOTIFY_CHANNELS)
ALL_QUEUES = (*INGEST_QUEUES, METRICS, RULES, HEALTH, RECOVERY, *NOTIFY_QUEUES)

INGEST_BATCH = "workers.ingest.ingest_batch"
RECORD_TRADE = "workers.ingest.record_trade"  # public: sent by name by traders' own Celery apps
RECORD_TRADES = "workers.ingest.record_trades"  # public, likewise
COLLECT_SYSTEM_METRICS = "workers.metrics.collect_system_metrics"
TRIM_HISTORY = "workers.metrics.trim_history"
EVALUATE_RULES = "workers.rules.evaluate"
EVALUATE_FAST = "workers.rules.evaluate_fast"
SWEEP_OUTBOX = "workers.rules.sweep_outbox"
SEND_DIGEST = "workers.rules.send_digest"
ESCALATE = "workers.rules.escalate"
FLUSH_GROUP = "workers.rules.flush_group"  # a storm group's grouped message, due at its window's end
RUN_CHECK = "workers.health.run_check"
RUN_RECOVERY = "workers.recovery.run_recovery"
NOTIFY_DELIVER = "workers.notify.deliver"
HEARTBEAT = "workers.notify.heartbeat"  # the dead-man's switch: runs on notify.log (health/heartbeat.py)

# kombu's Redis transport keeps a queue as a list named after it, plus one list per priority step
# ("<queue>\x06\x16<step>") once a message carries a priority.
KOMBU_PRIORITY_SEP = "\x06\x16"
KOMBU_PRIORITY_STEPS = (3, 6, 9)
LISTS_PER_QUEUE = 1 + len(KOMBU_PRIORITY_STEPS)


def notify_queue(channel: str) -> str:
    """The queue of one channel's notifications."""
    return f"notify.{channel}"


def queue_lengths(store: Store, queues: Iterable[str] = ALL_QUEUES) -> dict[str, int]:
    """Messages waiting in each queue (the broker is the same Redis as the state), priorities included."""
    names = list(queues)
    pipe = store.r.pipeline(transaction=False)
    for queue in names:
        pipe_queue_length(pipe, queue)
    counts = pipe.execute()
    return {q: int(sum(counts[i * LISTS_PER_QUEUE:(i + 1) * LISTS_PER_QUEUE])) for i, q in enumerate(names)}


def pipe_queue_length(pipe: Any, queue: str) -> None:
    """Add the LLENs of ``queue`` to ``pipe`` (``LISTS_PER_QUEUE`` results; their sum is its length), so a
    caller reading other keys too needs one round trip."""
    pipe.llen(queue)
    for step in KOMBU_PRIORITY_STEPS:
        pipe.llen(f"{queue}{KOMBU_PRIORITY_SEP}{step}")


def queue_length(store: Store, queue: str) -> int:
    """Messages waiting in one queue."""
    return queue_lengths(store, (queue,))[queue]


class TaskSender(Protocol):
    """Enqueues a task by name; raises when the broker cannot take it (the caller decides how to wait).

    ``options`` are Celery's publish options (``expires``, ``soft_time_limit``, ``time_limit``,
    ``countdown``); ``retry`` asks the sender to retry a failed publish a few times itself;
    ``max_age_seconds`` makes the task stale that long after it was sent, judged on the Redis clock
    (``expires`` alone compares the sender's clock with the worker's).
    """

    def send(self, task: str, args: Sequence[Any] = (), *, retry: bool = False, max_age_seconds: float | None = None,
             **options: Any) -> None: ...
