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
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
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
    try:
        client.set(KeySpace.consumer_alive(ident), "1", ex=ALIVE_TTL_SECONDS)
    except redis.RedisError as exc:  # Redis away: nothing can be restored meanwhile either
        log.debug("consumer heartbeat not written: %s", type(exc).__name__)


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
