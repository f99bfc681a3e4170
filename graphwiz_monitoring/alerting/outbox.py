"""The notification outbox: an alert is never stored without a record that its notification is owed.

The atomic step that creates or resolves an alert (``alert_fire.lua``, ``alert_resolve.lua``,
``alert_store.lua`` for manual alerts and ``send_alert``) also adds ``"<alert_id>|<kind>"`` to the
sorted set ``notify:outbox``, scored by the Redis clock. ``AlertManager.notify`` enqueues one
``deliver`` task per channel and removes the entry once every enqueue succeeded. If the process dies
in between, or the broker refuses the enqueue, the entry stays, and ``sweep`` (the beat task
``workers.rules.sweep_outbox``) hands it over again once it is older than ``GRACE_SECONDS``.

A notification handed over twice this way (the original process was only slow, or two sweeps ran at
once) is still sent once: delivery is idempotent per (alert, channel, kind) (``delivery_claim.lua``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..state import KeySpace, Store
from .models import AlertState

if TYPE_CHECKING:
    from .manager import AlertManager

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

    def summary(self) -> dict[str, Any]:
        return {"dispatched": self.dispatched, "dropped": self.dropped, "muted": self.muted, "failed": self.failed}


def sweep(manager: AlertManager, *, grace_seconds: float = GRACE_SECONDS, limit: int = SWEEP_LIMIT) -> SweepResult:
    """Hand over again the notifications recorded more than ``grace_seconds`` ago (at most ``limit``)."""
    from .delivery import load_alert  # lazy: the trader-side manager never loads the channels

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
    if result.dispatched or result.dropped or result.failed:
        log.info("outbox sweep: %s", result.summary())
    return result
