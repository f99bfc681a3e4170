"""The notifier: an alert's notification handed to the notify queues (one ``deliver`` task per
destination, through the process's TaskSender; the notify worker's configuration decides delivery),
and the sweep that hands over again what the outbox says is owed (outbox.py says when).

Destinations come from routing (alerting/routing.py: ``alerts.routes``, else the alert's channels);
storms are grouped first (alerting/grouping.py): a held notification waits for its window's grouped
message, which ``flush`` hands over (a ``workers.rules.flush_group`` task at the window's end, or the
sweep when that task is lost).

The sweep runs as the beat task ``workers.rules.sweep_outbox``: notifications recorded but never
enqueued (the creating process died, or the broker refused), grouped messages due and not handed
over, and tasks enqueued but never started (lost by the broker). Whether a resolution is muted is
the manager's decision (silences).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from graphwiz_monitoring import tasks
from graphwiz_monitoring.alerting import grouping, outbox, routing
from graphwiz_monitoring.alerting.models import Alert, AlertChannel
from graphwiz_monitoring.alerting.published import read_published
from graphwiz_monitoring.alerting.records import load_alert, load_alerts
from graphwiz_monitoring.alerting.routing import channel_of
from graphwiz_monitoring.config import AlertsSettings, ChannelSettings, Settings
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import TaskSender, queue_length
from graphwiz_monitoring.vocabulary import NOTIFICATION_KINDS, NotificationKind, kind_base

if TYPE_CHECKING:
    from graphwiz_monitoring.alerting.manager import AlertManager

log = logging.getLogger(__name__)

Dispatch = Callable[[str, str, str], None]  # (alert_id, destination, kind)
_D = TypeVar("_D", AlertChannel, str)
# A grouped message's task comes this long after its window's end (a hair early would cost it a retry).
FLUSH_MARGIN_SECONDS = 0.05


def sender_dispatch(sender: TaskSender) -> Dispatch:
    def dispatch(alert_id: str, channel: str, kind: str) -> None:
        sender.send(tasks.NOTIFY_DELIVER, (alert_id, channel, kind), retry=True)

    return dispatch


class Notifier:
    """Hands one alert's notifications to the notify queues, one task per destination (``handoff`` says which).

    Where they go is routing's decision (alerting/routing.py); storms are grouped first
    (alerting/grouping.py): the first notification of a group goes at once, the rest wait for the
    group's one message per destination, handed over by ``flush``.
    """

    def __init__(self, store: Store, keys: KeySpace, settings: Settings, dispatch: Dispatch | None, *,
                 deployment_config: bool = True, sender: TaskSender | None = None) -> None:
        self.store, self.keys, self.settings = store, keys, settings
        self.dispatch = dispatch  # None: no sender in this process, the workers' sweep hands over
        self.sender = sender  # schedules grouped messages; None: the workers' sweep sends them when due
        # False in the trader: its settings need not be the deployment's, the notify worker decides alone.
        self.deployment_config = deployment_config
        self.ttl_seconds = max(1, int(settings.alerts.history_retention_hours * 3600))

    def policy(self) -> AlertsSettings:
        """Routes and grouping: this process's configuration, or (the trader) the deployment's as published."""
        if self.deployment_config:
            return self.settings.alerts
        return read_published(self.store, self.keys) or self.settings.alerts

    def _settings_of(self, destination: str) -> ChannelSettings:
        try:
            return self.settings.notifications.destination(destination)
        except ValueError:  # not in this process's configuration: the channel type's defaults
            return self.settings.notifications.for_channel(channel_of(destination))

    def _sends(self, destination: str) -> bool:
        if channel_of(destination) is AlertChannel.LOG:
            return True
        return self.settings.notifications.has_destination(destination) and self._settings_of(destination).active

    def channels(self, channels: Iterable[AlertChannel], kind: str) -> list[AlertChannel]:
        """The channels this process's own configuration sends ``kind`` to."""
        return [AlertChannel.parse(d) for d in self._filter([c.value for c in channels], kind)]

    def _filter(self, destinations: Iterable[str], kind: str) -> list[str]:
        resolved = kind_base(kind) is NotificationKind.RESOLVED
        return [d for d in destinations if self._sends(d) and (not resolved or self._settings_of(d).send_resolved)]

    def destinations(self, alert: Alert, policy: AlertsSettings | None = None,
                     asked: Iterable[str] | None = None) -> list[str]:
        """Where ``alert``'s notifications go (routing.destinations), before ``handoff``."""
        return routing.destinations(alert, policy or self.policy(), asked)

    def handoff(self, destinations: Iterable[AlertChannel | str], kind: str) -> list[str]:
        """The destinations to hand ``kind`` notifications of an alert routed to ``destinations`` to.

        The notify worker has the deployment's configuration and decides there (alerting/delivery.py):
        destination active -> sent; resolved notices off -> suppressed; not configured or disabled ->
        suppressed when another destination of the alert is active, else the log channel and
        ``graphwiz_notifications_undeliverable_total``.

        A process without the deployment's configuration (``deployment_config`` False: the trader,
        started with e.g. the description's dict) hands over every destination, whatever its own
        configuration says. Workers and the CLI run with the deployment's monitoring.yaml: they skip
        the destinations it would not send to (same outcome, fewer tasks), except when none of the
        alert's is active: then all go, so the worker logs and counts them as undeliverable.
        """
        asked = list(dict.fromkeys(str(getattr(d, "value", d)) for d in destinations))
        if not self.deployment_config or not any(self._sends(d) for d in asked):
            return asked
        return self._filter(asked, kind)

    def past_floor(self, alert_id: str, destinations: list[_D], kind: str) -> list[_D]:
        """The destinations whose ``min_repeat_seconds`` floor lets this notification through (``notify_floor.lua``);
        a first notification passes everywhere and starts the floors, a resolution (or stale end) ignores them."""
        base = kind_base(kind)
        names = [str(getattr(d, "value", d)) for d in destinations]
        floors: list[int] = [int(self._settings_of(d).min_repeat_seconds * 1000) for d in names]
        if base in (NotificationKind.RESOLVED, NotificationKind.STALE) or not any(floors):
            return destinations
        passed = self.store.run_script("notify_floor", [self.keys.notify_floor(alert_id, d) for d in names],
                                       [kind, *floors])
        return [d for d, ok in zip(destinations, passed, strict=True) if int(ok)]

    def notify(self, alert: Alert, kind: str, destinations: Iterable[str] | None = None, *,
               policy: AlertsSettings | None = None) -> bool:
        """One ``deliver(alert_id, destination, kind)`` per ``handoff`` destination, or held for its storm
        group's message; True when all were enqueued (or held).

        ``destinations`` (e.g. an escalation step's names) replaces the routes and is never held. Only when
        all were enqueued does the alert's outbox entry go: after a failure it stays for the outbox
        sweep, which calls this again (a task enqueued twice still sends once, see alerting/outbox.py).
        Each task is marked handed first, so a task the broker loses after accepting it is enqueued again.
        ``policy``: the caller's read of ``policy()``, not read again.
        """
        policy = policy or self.policy()
        if grouping.grouped(alert, policy) and kind_base(kind) in (NotificationKind.RESOLVED, NotificationKind.STALE):
            grouping.end_lead(self.store, self.keys, alert, policy)
        if destinations is None and grouping.grouped(alert, policy):
            admission = grouping.admit(self.store, self.keys, alert, kind, policy,
                                       outbox.entry(alert.alert_id, kind), self.ttl_seconds)
            if admission.held:  # its outbox entry went with it: the window's due entry owes it now
                if admission.scheduled:
                    self.schedule_flush(admission.group, admission.window, admission.ends_in_seconds)
                return True
        chosen = self.past_floor(alert.alert_id, self.handoff(self.destinations(alert, policy, destinations), kind),
                                 kind)
        if self.hand_over([(alert.alert_id, d, kind) for d in chosen]):
            outbox.remove(self.store, self.keys, alert.alert_id, kind)
            return True
        return False

    def hand_over(self, tasks: list[tuple[str, str, str]]) -> bool:
        """Mark and enqueue ``deliver(id, destination, kind)`` tasks; False (marks undone) when one failed."""
        handed = [outbox.handed_entry(alert_id, kind, dest) for alert_id, dest, kind in tasks]
        outbox.mark_handed(self.store, self.keys, handed)
        unsent = [member for (alert_id, dest, kind), member in zip(tasks, handed, strict=True)
                  if not self.dispatch_one(alert_id, dest, kind)]
        if unsent:  # not handed after all: the caller's outbox or due entry stays and hands them over again
            self.store.r.zrem(self.keys.notify_handed, *unsent)
        return not unsent

    def schedule_flush(self, group: str, window: str, in_seconds: float) -> None:
        """Ask a worker for the window's grouped message when it ends; if that fails, the sweep sends it."""
        if self.sender is None:
            return
        try:
            self.sender.send(tasks.FLUSH_GROUP, (group, window), countdown=max(0.0, in_seconds) + FLUSH_MARGIN_SECONDS,
                             retry=True)
        except Exception as exc:  # broker down: the due entry stays, the outbox sweep flushes it
            log.warning("grouped message %s not scheduled (%s); the outbox sweep sends it",
                        grouping.message_id(group, window), type(exc).__name__)

    def flush(self, group: str, window: str) -> grouping.Claim:
        """Hand over one window's grouped message (``grouping.claim``): per destination one ``deliver`` of
        the message id listing the window's alerts routed there (a single one: its own notification)."""
        claim = grouping.claim(self.store, self.keys, group, window, self.ttl_seconds)
        if claim.verdict != "claimed":
            return claim
        policy = self.policy()
        per_destination: dict[str, list[tuple[str, str]]] = {}
        loaded = load_alerts(self.store, self.keys, [alert_id for alert_id, _ in claim.members])
        for (alert_id, kind), alert in zip(claim.members, loaded, strict=True):
            if alert is None:
                continue  # its record expired: nothing to tell
            for dest in self.past_floor(alert_id, self.handoff(self.destinations(alert, policy), kind), kind):
                per_destination.setdefault(dest, []).append((alert_id, kind))
        message = grouping.message_id(group, window)
        grouping.write_routes(self.store, self.keys, group, window, per_destination, self.ttl_seconds)
        handed = [(items[0][0], dest, items[0][1]) if len(items) == 1 else (message, dest, items[0][1])
                  for dest, items in per_destination.items()]
        if not self.hand_over(handed):
            return grouping.Claim("failed")  # its lease runs out and the sweep claims it again
        grouping.release(self.store, self.keys, group, window)
        log.info("grouped message %s: %d notifications to %s", message, len(claim.members),
                 ", ".join(per_destination) or "no destination")
        return claim

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
    grouped: int = 0  # grouped messages found due (their task lost, or no sender where the storm began): handed

    def summary(self) -> dict[str, Any]:
        return {"dispatched": self.dispatched, "dropped": self.dropped, "muted": self.muted, "failed": self.failed,
                "resent": self.resent, "waiting": self.waiting, "grouped": self.grouped}


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
        _flush_due_groups(manager, result)
    if not result.failed:
        _resend_lost(manager, result, grace_seconds, limit)
    if result.dispatched or result.dropped or result.failed or result.resent or result.grouped:
        log.info("outbox sweep: %s", result.summary())
    return result


def _flush_due_groups(manager: AlertManager, result: SweepResult) -> None:
    """Hand over the grouped messages due by now whose scheduled task did not (lost, late, or never sent)."""
    for group, window in grouping.due_windows(manager.store, manager.keys):
        claim = manager.notifier.flush(group, window)
        if claim.verdict == "claimed":
            result.grouped += 1
        elif claim.verdict == "failed":
            result.failed += 1
            break


def _resend_lost(manager: AlertManager, result: SweepResult, grace_seconds: float, limit: int) -> None:
    """Enqueue again the tasks marked handed more than ``grace_seconds`` ago that never started."""
    store, keys = manager.store, manager.keys
    claimed = outbox.claim_due(store, keys.notify_handed, grace_seconds, limit)
    for member in claimed:
        alert_id, kind, channel = (member.rsplit("|", 2) + ["", ""])[:3]
        try:
            queue: str | None = channel_of(channel).queue
        except ValueError:
            queue = None
        if store.r.zscore(keys.notify_outbox, outbox.entry(alert_id, kind)) is not None:
            continue  # the handoff itself is still owed: the outbox entry's sweep enqueues it (and marks anew)
        if grouping.is_message_id(alert_id):  # a grouped message: its members' silences were judged when held
            gone = queue is None or not grouping.members_for(store, keys, alert_id, channel)
        else:
            alert = load_alert(store, keys, alert_id) if queue is not None and kind in NOTIFICATION_KINDS else None
            gone = queue is None or alert is None or (kind_base(kind) is NotificationKind.RESOLVED
                                                      and manager.muted(alert))
        if gone or queue is None:  # (queue is None implies gone: said again for the type checker)
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
