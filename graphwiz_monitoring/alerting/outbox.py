"""The notification outbox: an alert is never stored without a record that its notification is owed.

The atomic step that creates or resolves an alert (``alert_fire.lua``, ``alert_resolve.lua``,
``alert_store.lua`` for manual alerts and ``send_alert``) also adds ``"<alert_id>|<kind>"`` to the
sorted set ``notify:outbox``, scored by the Redis clock. ``AlertManager.notify`` enqueues one
``deliver`` task per channel and removes the entry once every enqueue succeeded. If the process dies
in between, or the broker refuses the enqueue, the entry stays, and ``sweep`` (the beat task
``workers.rules.sweep_outbox``) hands it over again once it is older than ``GRACE_SECONDS``.

A task can also be lost after its enqueue: Redis killed as a worker's BRPOP takes it (the pop is on
disk, the reply never arrives) or an AOF ``everysec`` loss. So each (alert, kind, channel) handed over
is also marked in ``notify:handed`` (before the enqueue, so a task that starts at once finds its mark)
and the task's first run removes the mark (``started``). The sweep enqueues again a task whose mark is
older than ``GRACE_SECONDS`` while its channel's queue is empty (with a backlog it may still be in
the queue: it waits). Retries after a first run are Celery's own messages and are not covered.

A notification handed over twice this way (the original process was only slow, or two sweeps ran at
once) is still sent once: delivery is idempotent per (alert, channel, kind) (``delivery_claim.lua``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphwiz_monitoring.alerting.models import AlertChannel, AlertState
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import queue_length

if TYPE_CHECKING:
    from graphwiz_monitoring.alerting.manager import AlertManager

log = logging.getLogger(__name__)

# Far longer than a live handoff takes (kombu's publish retries give up within seconds), so a sweep
# never races a process that is still enqueueing; also how long a failed retry waits for the next one.
GRACE_SECONDS = 30.0
SWEEP_INTERVAL_SECONDS = 15.0
# Entries handled per sweep: bounds one run's time while the broker is back but a backlog remains.
SWEEP_LIMIT = 500
KINDS = (AlertState.FIRING.value, AlertState.RESOLVED.value)


def entry(alert_id: str, kind: str) -> str:
    """The outbox member of one notification (the Lua scripts build the same ``id|kind``)."""
    return f"{alert_id}|{kind}"


def handed_entry(alert_id: str, kind: str, channel: str) -> str:
    return f"{alert_id}|{kind}|{channel}"


def mark_handed(store: Store, keys: KeySpace, members: list[str]) -> None:
    """Record tasks about to be enqueued (``handed_entry`` members), by the Redis clock."""
    if members:
        store.run_script("zadd_now", [keys.notify_handed], members)


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


@dataclass
class SweepResult:
    dispatched: int = 0  # entries whose every task was enqueued (and which left the outbox)
    dropped: int = 0  # alert gone or entry unreadable: nothing left to send
    muted: int = 0  # resolutions a silence mutes, as the lifecycle does
    failed: int = 0  # enqueue failed again: kept, retried one grace period later
    resent: int = 0  # tasks enqueued but never started (lost by the broker), enqueued again
    waiting: int = 0  # tasks not started yet behind a backlog in their queue: looked at again later

    def summary(self) -> dict[str, Any]:
        return {"dispatched": self.dispatched, "dropped": self.dropped, "muted": self.muted, "failed": self.failed,
                "resent": self.resent, "waiting": self.waiting}


def sweep(manager: AlertManager, *, grace_seconds: float = GRACE_SECONDS, limit: int = SWEEP_LIMIT) -> SweepResult:
    """Hand over again the notifications recorded more than ``grace_seconds`` ago (at most ``limit``)."""
    from graphwiz_monitoring.alerting.delivery import (
        load_alert,  # lazy: the trader-side manager never loads the channels
    )

    store, keys = manager.store, manager.keys
    result = SweepResult()
    claimed = store.run_script("outbox_claim", [keys.notify_outbox], [float(grace_seconds), int(limit)])
    for member in claimed:
        alert_id, _, kind = member.rpartition("|")
        alert = load_alert(store, keys, alert_id) if alert_id and kind in KINDS else None
        if alert is None:
            store.r.zrem(keys.notify_outbox, member)
            log.warning("outbox: dropped %s notification of alert %s: alert record not found (expired)",
                        kind[:20], alert_id[:64])
            result.dropped += 1
        elif kind == AlertState.RESOLVED.value and manager.muted(alert):
            remove(store, keys, alert_id, kind)
            result.muted += 1
        elif manager.notify(alert, kind):
            result.dispatched += 1
        else:
            # The broker is still refusing: the rest would fail too; they come back after the grace.
            result.failed += 1
            break
    if not result.failed:
        _resend_lost(manager, result, grace_seconds, limit)
    if result.dispatched or result.dropped or result.failed or result.resent:
        log.info("outbox sweep: %s", result.summary())
    return result


def _resend_lost(manager: AlertManager, result: SweepResult, grace_seconds: float, limit: int) -> None:
    """Enqueue again the tasks marked handed more than ``grace_seconds`` ago that never started."""
    from graphwiz_monitoring.alerting.delivery import load_alert

    store, keys = manager.store, manager.keys
    claimed = store.run_script("outbox_claim", [keys.notify_handed], [float(grace_seconds), int(limit)])
    for member in claimed:
        alert_id, kind, channel = (member.rsplit("|", 2) + ["", ""])[:3]
        try:
            queue = AlertChannel.parse(channel).queue
        except ValueError:
            queue = None
        if store.r.zscore(keys.notify_outbox, entry(alert_id, kind)) is not None:
            continue  # the handoff itself is still owed: the outbox entry's sweep enqueues it (and marks anew)
        alert = load_alert(store, keys, alert_id) if queue is not None and kind in KINDS else None
        if queue is None or alert is None or (kind == AlertState.RESOLVED.value and manager.muted(alert)):
            store.r.zrem(keys.notify_handed, member)  # nothing to send: alert expired or muted, or unreadable
            result.dropped += 1
        elif queue_length(store, queue):
            result.waiting += 1  # re-scored by the claim: looked at again one grace period later
        elif manager.dispatch_one(alert_id, channel, kind):
            log.warning("alert %s: its %s %s notification task never started (lost by the broker); enqueued "
                        "again", alert_id[:64], kind, channel)
            result.resent += 1
        else:
            result.failed += 1
            break
