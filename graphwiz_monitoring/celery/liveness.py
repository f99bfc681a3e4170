"""Which live worker holds each unacknowledged broker message, so a dead worker's come back in seconds.

kombu's Redis transport parks every message a worker has taken (and not acknowledged) in its
``unacked`` hash and puts it back on its queue only once it is older than the visibility timeout
(20 min here), because it cannot tell a dead holder from a slow one. A worker main process killed
with SIGKILL (OOM killer, host crash) thus delayed its notifications by 20 minutes.

Each consuming process now records itself as the owner of every message it takes
(``unacked_owner``: delivery tag -> consumer id, beside kombu's hash) and keeps a key
``graphwiz:consumer:alive:<id>`` alive from a daemon thread (refreshed every ``REFRESH_SECONDS``,
expiring after ``ALIVE_TTL_SECONDS``; a thread, so a long task under ``-P solo`` does not stop it).
Every worker's periodic restore pass (kombu's ``restore_visible``, every 10 s, and at start-up)
requeues the messages whose owner's key has expired. Requeueing is kombu's own ``restore_by_tag``
(a WATCH transaction: one restorer wins, an acknowledged message is not requeued). Should a live
worker lose its key anyway (Redis restarted without it), its message may run twice: every task
here is idempotent (batch ids, notification claims), so that costs work, not correctness.

The same heartbeat says which queues each live worker consumes, so that a task waiting in a queue
nobody consumes shows (``graphwiz_celery_queue_consumers``, rule ``graphwiz_queue_unconsumed``).
When the worker is ready (Celery's ``worker_ready``, in its main process: the one that takes
messages) the heartbeat starts at once and, every beat, adds the process to
``graphwiz:queue:consumers:<queue>`` of each queue its task consumer consumes (read live from
``consumer.task_consumer.queues``, so ``add_consumer``/``cancel_consumer`` are followed), with the
Redis time its entry lapses (now + ``ALIVE_TTL_SECONDS``: the Redis clock, like every reader).
A worker that stops (``worker_shutting_down``) removes its entries at once; one that dies stops
counting within ``ALIVE_TTL_SECONDS``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import redis

from graphwiz_monitoring.state.keys import KeySpace

log = logging.getLogger(__name__)

# Broker-level keys, one per Redis database like kombu's own (state/keys.py says why).
OWNERS_KEY = KeySpace.UNACKED_OWNER
ALIVE_PREFIX = KeySpace.CONSUMER_ALIVE_PREFIX
ALIVE_TTL_SECONDS = 15
REFRESH_SECONDS = 5
SCAN_SECONDS = 5  # at most one scan of the owners per process this often

_state: dict[str, Any] = {}  # pid -> this process's consumer id and heartbeat thread
_lock = threading.Lock()
# This process's consumed queues, once its worker is ready: pid, provider (-> names, or None when
# unknown for now) and the queues last written. Re-entrant: a shutdown signal may arrive mid-beat.
_queues: dict[str, Any] = {}
_beat_lock = threading.RLock()


def _new_lock_after_fork() -> None:  # a pool child must not inherit the lock held by the parent's heartbeat
    global _beat_lock
    _beat_lock = threading.RLock()


os.register_at_fork(after_in_child=_new_lock_after_fork)


def consumer_id(make_client: Callable[[], redis.Redis]) -> str:
    """This process's id as a message owner; starts its heartbeat on first use (after a fork: anew)."""
    pid = os.getpid()
    if _state.get("pid") == pid:
        return _state["id"]
    with _lock:
        if _state.get("pid") != pid:
            ident = f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}"
            client = make_client()  # its own pool: the thread outlives any one broker channel
            _beat(client, ident)  # alive before it owns anything
            thread = threading.Thread(target=_heartbeat, args=(client, ident), name="graphwiz-consumer-alive",
                                      daemon=True)
            thread.start()
            _state.update(pid=pid, id=ident, client=client)
    return _state["id"]


def beat_now() -> None:
    """Refresh this process's alive key at once (after reconnecting: it may have expired meanwhile)."""
    if _state.get("pid") == os.getpid():
        _beat(_state["client"], _state["id"])


def _beat(client: redis.Redis, ident: str) -> None:
    with _beat_lock:
        try:
            client.set(KeySpace.consumer_alive(ident), "1", ex=ALIVE_TTL_SECONDS)
            _publish_queues(client, ident)
        except redis.RedisError as exc:  # Redis away: nothing can be restored meanwhile either
            log.debug("consumer heartbeat not written: %s", type(exc).__name__)


def watch_queues(consumer: Any) -> None:
    """At ``worker_ready``: start this worker's heartbeat now and publish the queues it consumes with it."""
    task_consumer = getattr(consumer, "task_consumer", None)
    own_client = getattr(getattr(task_consumer, "channel", None), "own_client", None)
    if own_client is None:  # not our guarded Redis transport: no broker-level keys to write
        log.warning("queue consumers not published: the broker transport is not the guarded Redis one")
        return
    with _beat_lock:
        _queues.clear()
        _queues.update(pid=os.getpid(), provider=lambda: consumed_queues(consumer), written=set())
    consumer_id(own_client)
    beat_now()  # the queues are published before the worker says it is ready


def consumed_queues(consumer: Any) -> list[str] | None:
    """The queues a Celery worker consumer takes tasks from now; None when that cannot be read this time."""
    task_consumer = consumer.task_consumer  # replaced after a reconnection, None in between
    if task_consumer is None:
        return []
    try:
        return sorted({queue.name for queue in task_consumer.queues})
    except RuntimeError:  # changed while read (add_consumer / cancel_consumer): read again next beat
        return None


def forget_queues() -> None:
    """At ``worker_shutting_down``: this worker no longer takes tasks; its queues stop counting it at once."""
    with _beat_lock:
        if _queues.get("pid") != os.getpid():
            return
        written = _queues.get("written", set())
        _queues.clear()
        if _state.get("pid") == os.getpid() and written:
            _remove(_state["client"], _state["id"], written)


def _publish_queues(client: redis.Redis, ident: str) -> None:
    if _queues.get("pid") != os.getpid():
        return
    queues = _queues["provider"]()
    if queues is None:
        return
    seconds, micros = client.time()  # the Redis clock: readers compare with it (exporter)
    lapses = int(seconds) + int(micros) / 1_000_000 + ALIVE_TTL_SECONDS
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        key = KeySpace.queue_consumers(queue)
        pipe.zadd(key, {ident: lapses})
        pipe.zremrangebyscore(key, "-inf", lapses - ALIVE_TTL_SECONDS)  # entries of consumers that died
        pipe.expire(key, ALIVE_TTL_SECONDS)  # never before the entry just written lapses
    pipe.execute()
    dropped = _queues["written"] - set(queues)
    if dropped:  # cancel_consumer
        _remove(client, ident, dropped)
    _queues["written"] = set(queues)


def _remove(client: redis.Redis, ident: str, queues: Iterable[str]) -> None:
    try:
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            pipe.zrem(KeySpace.queue_consumers(queue), ident)
        pipe.execute()
    except redis.RedisError as exc:  # the entries lapse by themselves within ALIVE_TTL_SECONDS
        log.debug("queue consumer entries not removed: %s", type(exc).__name__)


def _heartbeat(client: redis.Redis, ident: str) -> None:
    while True:  # daemon thread: ends with the process, which is the point
        time.sleep(REFRESH_SECONDS)
        _beat(client, ident)


def dead_owners_tags(client: Any) -> list[str]:
    """Delivery tags held by consumers whose alive key has expired ([] when scanned < SCAN_SECONDS ago).

    kombu calls the restore pass every 10 s from the event loop, but on every empty poll without one.
    """
    now = time.monotonic()
    if now < _state.get("next_scan", 0.0):
        return []
    _state["next_scan"] = now + SCAN_SECONDS
    owners = client.hgetall(OWNERS_KEY)
    if not owners:
        return []
    items = [(_text(tag), _text(owner)) for tag, owner in owners.items()]
    distinct = sorted({owner for _, owner in items})
    pipe = client.pipeline(transaction=False)
    for owner in distinct:  # one EXISTS per distinct owner, one round trip
        pipe.exists(KeySpace.consumer_alive(owner))
    living = {owner for owner, found in zip(distinct, pipe.execute(), strict=True) if found}
    return [tag for tag, owner in items if owner not in living]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
