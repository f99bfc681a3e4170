"""The notifier: an alert's notification handed to the notify queues (one ``deliver`` task per channel,
through the process's TaskSender; the notify worker's configuration decides delivery), and the sweep
that hands over again what the outbox says is owed (outbox.py says when).

The sweep runs as the beat task ``workers.rules.sweep_outbox``: notifications recorded but never
enqueued (the creating process died, or the broker refused), and tasks enqueued but never started
(lost by the broker). Whether a resolution is muted is the manager's decision (silences).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphwiz_monitoring import tasks
from graphwiz_monitoring.alerting import outbox
from graphwiz_monitoring.alerting.models import Alert, AlertChannel
from graphwiz_monitoring.alerting.records import load_alert
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import TaskSender, queue_length
from graphwiz_monitoring.vocabulary import NOTIFICATION_KINDS, NotificationKind, kind_base

if TYPE_CHECKING:
    from graphwiz_monitoring.alerting.manager import AlertManager

log = logging.getLogger(__name__)

Dispatch = Callable[[str, str, str], None]  # (alert_id, channel, kind)


def sender_dispatch(sender: TaskSender) -> Dispatch:
    def dispatch(alert_id: str, channel: str, kind: str) -> None:
        sender.send(tasks.NOTIFY_DELIVER, (alert_id, channel, kind), retry=True)

    return dispatch


class Notifier:
    """Hands one alert's notifications to the notify queues, one task per channel (``handoff`` says which)."""

    def __init__(self, store: Store, keys: KeySpace, settings: Settings, dispatch: Dispatch | None, *,
                 deployment_config: bool = True) -> None:
        self.store, self.keys, self.settings = store, keys, settings
        self.dispatch = dispatch  # None: no sender in this process, the workers' sweep hands over
        # False in the trader: its settings need not be the deployment's, the notify worker decides alone.
        self.deployment_config = deployment_config

    def channels(self, channels: Iterable[AlertChannel], kind: str) -> list[AlertChannel]:
        """The channels this process's own configuration sends ``kind`` to."""
        out = []
        for channel in channels:
            cfg = self.settings.notifications.for_channel(channel)
            if (channel is AlertChannel.LOG or cfg.active) and (kind_base(kind) is not NotificationKind.RESOLVED or cfg.send_resolved):
                out.append(channel)
        return out

    def handoff(self, channels: Iterable[AlertChannel], kind: str) -> list[AlertChannel]:
        """The channels to hand ``kind`` notifications of an alert asking for ``channels`` to.

        The notify worker has the deployment's configuration and decides there (alerting/delivery.py):
        channel active -> sent; resolved notices off -> suppressed; not configured or disabled ->
        suppressed when another channel of the alert is active, else the log channel and
        ``graphwiz_notifications_undeliverable_total``.

        A process without the deployment's configuration (``deployment_config`` False: the trader,
        started with e.g. the description's dict) hands over every channel asked for, whatever its own
        configuration says. Workers and the CLI run with the deployment's monitoring.yaml: they skip
        the channels it would not send to (same outcome, fewer tasks), except when none of the
        alert's channels is active: then all go, so the worker logs and counts them as undeliverable.
        """
        asked = list(dict.fromkeys(channels))
        if not self.deployment_config:
            return asked
        if not any(c is AlertChannel.LOG or self.settings.notifications.for_channel(c).active for c in asked):
            return asked
        return self.channels(asked, kind)

    def past_floor(self, alert_id: str, channels: list[AlertChannel], kind: str) -> list[AlertChannel]:
        """The channels whose ``min_repeat_seconds`` floor lets this notification through (``notify_floor.lua``);
        a first notification passes everywhere and starts the floors, a resolution (or stale end) ignores them."""
        base = kind_base(kind)
        floors = [int(self.settings.notifications.for_channel(c).min_repeat_seconds * 1000) for c in channels]
        if base in (NotificationKind.RESOLVED, NotificationKind.STALE) or not any(floors):
            return channels
        passed = self.store.run_script("notify_floor", [self.keys.notify_floor(alert_id, c.value) for c in channels],
                                       [kind, *floors])
        return [c for c, ok in zip(channels, passed, strict=True) if int(ok)]

    def notify(self, alert: Alert, kind: str) -> bool:
        """One ``deliver(alert_id, channel, kind)`` per ``handoff`` channel; True when all were enqueued.

        Only then does the alert's outbox entry go: after a failure it stays for the outbox sweep,
        which calls this again (a task enqueued twice still sends once, see alerting/outbox.py). Each
        task is marked handed first, so a task the broker loses after accepting it is enqueued again.
        """
        channels = [c.value for c in self.past_floor(alert.alert_id, self.handoff(alert.channels, kind), kind)]
        handed = [outbox.handed_entry(alert.alert_id, kind, c) for c in channels]
        outbox.mark_handed(self.store, self.keys, handed)
        unsent = [member for channel, member in zip(channels, handed, strict=True)
                  if not self.dispatch_one(alert.alert_id, channel, kind)]
        if unsent:  # not handed after all: the outbox entry stays and its sweep hands them over again
            self.store.r.zrem(self.keys.notify_handed, *unsent)
        else:
            outbox.remove(self.store, self.keys, alert.alert_id, kind)
        return not unsent

    def dispatch_one(self, alert_id: str, channel: str, kind: str) -> bool:
        """Enqueue one ``deliver`` task; False (logged) when the broker refused it."""
        if self.dispatch is None:  # no sender in this process: a worker's outbox sweep hands it over
            log.info("alert %s: %s %s notification left to the outbox sweep (no task sender here)",
                     alert_id, kind, channel)
            return False
        try:
            self.dispatch(alert_id, channel, kind)
        except Exception as exc:  # broker down: the outbox keeps it; the exception text may hold a URL
            log.error("alert %s: could not enqueue %s %s notification (%s); the outbox sweep retries it",
                      alert_id, kind, channel, type(exc).__name__)
            return False
        return True


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
        elif kind_base(kind) is NotificationKind.RESOLVED and manager.muted(alert):
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
        if queue is None or alert is None or (kind_base(kind) is NotificationKind.RESOLVED and manager.muted(alert)):
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
