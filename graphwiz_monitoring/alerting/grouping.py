"""Grouping of storms (docs/ALERTS.md "Grouping"): one message per destination for alerts that start together.

Notifications whose alerts share a group key (the values of ``alerts.group_by``, default ``[rule]``;
label names, ``rule`` and ``severity``) and the same kind (firing, repeat, resolved, stale) form a
group. The first opens a window of ``alerts.group_interval_seconds`` and is sent at once, alone
(no Alertmanager-style ``group_wait``: the first notice of a storm is as fast as any alert's). Every
further notification of the group inside that window is *held*; when the window ends, they go out
as one grouped message per destination (a single held one goes as its ordinary notification). A
lead that ends (resolved, stale) with nothing held behind it closes its window: the next alert of
the group is a new incident, not a storm, and is told at once too.

Shared by every process through Redis, on the Redis clock: ``notify_group.lua`` decides lead or held
and, for a held one, moves it from the outbox to the window (atomically: a process dying right after
loses nothing); the window's entry in ``notify:groups:due`` is owed until its message was handed to
the notify queues. ``group_flush.lua`` claims a due window (a lease, so a claimant that dies is
replaced one lease later): a ``flush_group`` task scheduled for the window's end does it, and the
outbox sweep flushes any window found overdue (task lost, or no task sender in the process). A
grouped message is delivered like any notification (idempotency record, rate limit, retries, dead
letters per destination) under its message id ``grp-<group>-<window>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from graphwiz_monitoring.alerting.models import Alert
from graphwiz_monitoring.config.alerts import AlertsSettings
from graphwiz_monitoring.rulebook.rules import ONE_SHOT_RULES
from graphwiz_monitoring.rulebook.silences import alert_labels
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.vocabulary import NotificationKind, kind_base

MESSAGE_PREFIX = "grp-"
# A claimed window whose claimant died is claimed again this much later (as an outbox entry is).
FLUSH_LEASE_SECONDS = 30.0
# Windows flushed per sweep.
SWEEP_LIMIT = 200
_SEP = "\n"


def group_key(alert: Alert, kind: str, group_by: list[str]) -> str:
    """Stable id of the group of ``alert``'s ``kind`` notification; safe inside Redis keys and task args."""
    labels = alert_labels(alert.rule_name, alert.severity, alert.labels)
    base = kind_base(kind)
    text = _SEP.join([str(base.value if base else kind), *(f"{name}={labels.get(name, '')}" for name in group_by)])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def group_labels(alert: Alert, group_by: list[str]) -> dict[str, str]:
    """The group's label values, shown in its grouped message."""
    labels = alert_labels(alert.rule_name, alert.severity, alert.labels)
    return {name: labels.get(name, "") for name in group_by}


def grouped(alert: Alert, alerts: AlertsSettings) -> bool:
    # One-shot messages (manual alerts, the digest) were asked for by somebody: never held.
    return alerts.group_interval_seconds > 0 and alert.rule_name not in ONE_SHOT_RULES


def message_id(group: str, window: str) -> str:
    return f"{MESSAGE_PREFIX}{group}-{window}"


def is_message_id(value: str) -> bool:
    return isinstance(value, str) and value.startswith(MESSAGE_PREFIX)


def split_message_id(value: str) -> tuple[str, str] | None:
    """(group, window) of a grouped message id; None when it is not one."""
    if not is_message_id(value):
        return None
    group, _, window = value[len(MESSAGE_PREFIX):].partition("-")
    return (group, window) if group and window.isdigit() else None


@dataclass(frozen=True)
class Admission:
    held: bool  # False: the lead, sent at once
    group: str
    window: str
    ends_in_seconds: float
    scheduled: bool  # this call held the window's first member: its grouped message must be scheduled


def admit(store: Store, keys: KeySpace, alert: Alert, kind: str, alerts: AlertsSettings,
          outbox_member: str, ttl_seconds: int) -> Admission:
    """Lead or held (``notify_group.lua``); a held notification has left the outbox in the same step."""
    group = group_key(alert, kind, alerts.group_by)
    verdict, window, ends_ms, scheduled = store.run_script(
        "notify_group", [keys.notify_group(group), keys.notify_group_held(group), keys.notify_groups_due,
                         keys.notify_outbox],
        [outbox_member, int(alerts.group_interval_seconds * 1000), group, int(ttl_seconds), alert.alert_id],
        durable=True)  # a held notification left the outbox: only its group owes it now
    return Admission(str(verdict) == "held", group, str(window), int(ends_ms) / 1000.0, bool(int(scheduled)))


def end_lead(store: Store, keys: KeySpace, alert: Alert, alerts: AlertsSettings) -> bool:
    """``alert`` ended (resolved, stale): if it leads its firing group's window with nothing held behind it,
    close the window (``notify_group_end.lua``). A lone alert that comes and goes is no storm: the next one
    of its group, a new incident, is told at once rather than held for the rest of the window."""
    group = group_key(alert, NotificationKind.FIRING.value, alerts.group_by)
    return bool(store.run_script("notify_group_end", [keys.notify_group(group), keys.notify_group_held(group)],
                                 [alert.alert_id]))


@dataclass
class Claim:
    verdict: str  # "done" (nothing owed), "wait" (window still open), "claimed"
    wait_seconds: float = 0.0
    members: list[tuple[str, str]] = field(default_factory=list)  # (alert id, kind)


def _pair(member: str) -> tuple[str, str]:
    alert_id, _, kind = member.rpartition("|")
    return alert_id, kind


def claim(store: Store, keys: KeySpace, group: str, window: str, ttl_seconds: int) -> Claim:
    """Claim a window's grouped message once its window ended (``group_flush.lua``)."""
    out = store.run_script("group_flush", [keys.notify_group_held(group), keys.notify_grouped(message_id(group, window)),
                                           keys.notify_groups_due],
                           [window, f"{group}|{window}", FLUSH_LEASE_SECONDS, int(ttl_seconds)])
    verdict = str(out[0])
    if verdict == "wait":
        return Claim(verdict, int(out[1]) / 1000.0)
    return Claim(verdict, members=[_pair(str(m)) for m in out[1:]])


def write_routes(store: Store, keys: KeySpace, group: str, window: str, routes: Mapping[str, list[tuple[str, str]]],
                 ttl_seconds: int) -> None:
    """Which members each destination's grouped message lists (a re-claim writes the same)."""
    key = keys.notify_grouped_to(message_id(group, window))
    if routes:
        pipe = store.r.pipeline(transaction=True)
        pipe.hset(key, mapping={dest: ",".join(f"{a}|{k}" for a, k in items) for dest, items in routes.items()})
        pipe.expire(key, int(ttl_seconds))
        pipe.execute()


def members_for(store: Store, keys: KeySpace, message: str, destination: str) -> list[tuple[str, str]]:
    """The (alert id, kind) pairs one destination's grouped message lists."""
    raw = store.r.hget(keys.notify_grouped_to(message), destination) or ""
    return [_pair(m) for m in raw.split(",") if m]


def release(store: Store, keys: KeySpace, group: str, window: str) -> None:
    """The window's grouped message was handed over: nothing owed any more."""
    store.r.zrem(keys.notify_groups_due, f"{group}|{window}")


def due_windows(store: Store, keys: KeySpace, limit: int = SWEEP_LIMIT) -> list[tuple[str, str]]:
    """(group, window) of every grouped message due now by the Redis clock (claimed ones when their lease ran out)."""
    due = store.r.zrangebyscore(keys.notify_groups_due, "-inf", store.now(), start=0, num=limit)
    return [(g, w) for g, _, w in (str(m).partition("|") for m in due)]


def pending_windows(store: Store, keys: KeySpace) -> int:
    return int(store.r.zcard(keys.notify_groups_due))
