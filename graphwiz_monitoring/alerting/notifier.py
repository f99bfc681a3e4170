"""The notifier's sweep: hands over again what the outbox says is owed (outbox.py says when).

Run by the beat task ``workers.rules.sweep_outbox``: notifications recorded but never enqueued (the
creating process died, or the broker refused), and tasks enqueued but never started (lost by the
broker). The manager decides the channels and enqueues (``AlertManager.notify`` / ``dispatch_one``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from graphwiz_monitoring.alerting import outbox
from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.alerting.models import AlertChannel
from graphwiz_monitoring.alerting.records import load_alert
from graphwiz_monitoring.tasks import queue_length
from graphwiz_monitoring.vocabulary import NOTIFICATION_KINDS, NotificationKind

log = logging.getLogger(__name__)


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


def sweep(manager: AlertManager, *, grace_seconds: float = outbox.GRACE_SECONDS,
          limit: int = outbox.SWEEP_LIMIT) -> SweepResult:
    """Hand over again the notifications recorded more than ``grace_seconds`` ago (at most ``limit``)."""
    store, keys = manager.store, manager.keys
    result = SweepResult()
    claimed = outbox.claim_due(store, keys.notify_outbox, grace_seconds, limit)
    for member in claimed:
        alert_id, _, kind = member.rpartition("|")
        alert = load_alert(store, keys, alert_id) if alert_id and kind in NOTIFICATION_KINDS else None
        if alert is None:
            store.r.zrem(keys.notify_outbox, member)
            log.warning("outbox: dropped %s notification of alert %s: alert record not found (expired)",
                        kind[:20], alert_id[:64])
            result.dropped += 1
        elif kind == NotificationKind.RESOLVED and manager.muted(alert):
            outbox.remove(store, keys, alert_id, kind)
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
    store, keys = manager.store, manager.keys
    claimed = outbox.claim_due(store, keys.notify_handed, grace_seconds, limit)
    for member in claimed:
        alert_id, kind, channel = (member.rsplit("|", 2) + ["", ""])[:3]
        try:
            queue = AlertChannel.parse(channel).queue
        except ValueError:
            queue = None
        if store.r.zscore(keys.notify_outbox, outbox.entry(alert_id, kind)) is not None:
            continue  # the handoff itself is still owed: the outbox entry's sweep enqueues it (and marks anew)
        alert = load_alert(store, keys, alert_id) if queue is not None and kind in NOTIFICATION_KINDS else None
        if queue is None or alert is None or (kind == NotificationKind.RESOLVED and manager.muted(alert)):
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
