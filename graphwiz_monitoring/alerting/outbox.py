"""The notification outbox's bookkeeping: an alert is never stored without a record that its
notification is owed. Pure Redis bookkeeping (imports nothing from the alerting area); the sweep that
hands owed notifications over again is notifier.py's.

The atomic step that creates or resolves an alert (``alert_fire.lua``, ``alert_resolve.lua``,
``alert_store.lua`` for manual alerts and ``send_alert``) also adds ``"<alert_id>|<kind>"`` to the
sorted set ``notify:outbox``, scored by the Redis clock. ``AlertManager.notify`` enqueues one
``deliver`` task per channel and removes the entry once every enqueue succeeded. If the process dies
in between, or the broker refuses the enqueue, the entry stays, and the notifier's ``sweep`` (the beat task
``workers.rules.sweep_outbox``) hands it over again once it is older than ``GRACE_SECONDS``.

A task can also be lost after its enqueue: Redis killed as a worker's BRPOP takes it (the pop is on
disk, the reply never arrives) or an AOF ``everysec`` loss. So each (alert, kind, channel) handed over
is also marked in ``notify:handed`` (before the enqueue, so a task that starts at once finds its mark)
and the task's first run removes the mark (``started``). The sweep enqueues again a task whose mark is
older than ``GRACE_SECONDS`` while its channel's queue is empty (with a backlog it may still be in
the queue: it waits). Retries after a first run are Celery's own messages and are not covered.

A notification handed over twice this way (the original process was only slow, or two sweeps ran at
once) is still sent once: delivery is idempotent per (alert, channel, kind) (``delivery_claim.lua``); a repeat's kind carries
its sequence number (``repeat-3``), so each repeat is its own notification.
"""

from __future__ import annotations

import logging

from graphwiz_monitoring.state import KeySpace, Store

log = logging.getLogger(__name__)

# Far longer than a live handoff takes (kombu's publish retries give up within seconds), so a sweep
# never races a process that is still enqueueing; also how long a failed retry waits for the next one.
GRACE_SECONDS = 30.0
SWEEP_INTERVAL_SECONDS = 15.0
# Entries handled per sweep: bounds one run's time while the broker is back but a backlog remains.
SWEEP_LIMIT = 500


def entry(alert_id: str, kind: str) -> str:
    """The outbox member of one notification (the Lua scripts build the same ``id|kind``)."""
    return f"{alert_id}|{kind}"


def handed_entry(alert_id: str, kind: str, channel: str) -> str:
    return f"{alert_id}|{kind}|{channel}"


def mark_handed(store: Store, keys: KeySpace, members: list[str]) -> None:
    """Record tasks about to be enqueued (``handed_entry`` members), by the Redis clock."""
    if members:
        store.run_script("zadd_now", [keys.notify_handed], members, durable=True)


def started(store: Store, keys: KeySpace, alert_id: str, kind: str, channel: str) -> None:
    """The task of this notification runs: it was not lost (its retries are Celery's own business)."""
    store.r.zrem(keys.notify_handed, handed_entry(alert_id, kind, channel))


def remove(store: Store, keys: KeySpace, alert_id: str, kind: str) -> None:
    """The notification was handed over (or must not be sent): forget it."""
    store.r.zrem(keys.notify_outbox, entry(alert_id, kind))


def pending(store: Store, keys: KeySpace) -> list[str]:
    """Every entry still owed, oldest first (for status and tests)."""
    return list(store.r.zrange(keys.notify_outbox, 0, -1))


def backlog(store: Store, keys: KeySpace) -> tuple[int, float]:
    """(entries owed, age in seconds of the oldest by the Redis clock; 0 when empty), in one round trip.

    The age counts from when the entry was recorded or last claimed by a sweep (which re-scores it), so
    while sweeps run it stays below about ``GRACE_SECONDS + SWEEP_INTERVAL_SECONDS``.
    """
    pipe = store.r.pipeline(transaction=False)
    pipe.zcard(keys.notify_outbox)
    pipe.zrange(keys.notify_outbox, 0, 0, withscores=True)
    pipe.time()  # scores are Redis time (the Lua scripts use TIME): no clock skew with this host
    count, oldest, (seconds, micros) = pipe.execute()
    age = max(0.0, seconds + micros / 1e6 - oldest[0][1]) if oldest else 0.0
    return int(count), age


def claim_due(store: Store, key: str, grace_seconds: float, limit: int) -> list[str]:
    """Members of ``key`` (the outbox or the handed marks) older than ``grace_seconds`` by the Redis clock,
    at most ``limit``, re-scored to now so that a concurrent sweep skips them (``outbox_claim.lua``)."""
    return list(store.run_script("outbox_claim", [key], [float(grace_seconds), int(limit)]))
