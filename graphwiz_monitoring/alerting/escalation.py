"""Escalation: an unacknowledged episode reaches more channels the longer it lasts (docs/ALERTS.md "Escalation").

``alerts.escalation.<severity>`` or a rule's own ``escalation`` (``alerts.rules.<name>`` or
``alerts.custom_rules.<name>``) lists steps ``{after_seconds, channels}``; a step's channels are
destinations (``telegram``, or a named ``telegram:oncall``). The steps at 0 s are the episode's first
notice (``firing``, the fast path); step n after its delay from the episode's start (Redis clock) is told
once, as ``escalated-<n>``, and its destinations then get the episode's repeats and end too. An escalated
episode's notices go to the destinations of the steps it reached (``told``), never to ``alerts.routes``:
the escalation is that episode's routing. An ack in force holds the next step back until the ack ends;
a resolved episode escalates no further.

The schedule is a zset of due times (``KeySpace.alerts_escalation``) written with the episode
(alert_fire.lua). The beat task ``workers.rules.escalate`` runs ``run_due`` every
``ESCALATION_TICK_SECONDS``: a step is claimed and its notification recorded in the outbox by one Lua step
(alert_escalate.lua), so whatever the number of workers each step is told once. No task sleeps or
waits on a countdown: a late or missing tick only delays a step, and the outbox sweep finishes a
handoff a dying worker left.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from graphwiz_monitoring.alerting import outbox
from graphwiz_monitoring.alerting.models import Alert, AlertChannel
from graphwiz_monitoring.config import AlertsSettings, EscalationStep, Settings
from graphwiz_monitoring.config.routing import parse_destination
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.vocabulary import AlertSeverity, NotificationKind, kind_base

if TYPE_CHECKING:
    from graphwiz_monitoring.alerting.manager import AlertManager

log = logging.getLogger(__name__)

ESCALATION_TICK_SECONDS = 0.5  # beat period of workers.rules.escalate: a step is at most this late (+ queueing)
DUE_LIMIT = 500  # episodes looked at per tick; the rest come next tick
REACHED = "reached"  # a step's flag in the alert record: its destinations were told


@dataclass(frozen=True)
class Plan:
    """What an episode's escalation asks at its start: the first notice's destinations (the steps at 0 s),
    every step's delay, and the first step still to come (1-based; ``len(delays) + 1`` when none)."""

    first_destinations: list[str]
    delays: list[float]
    next_step: int

    def argv(self) -> list[str]:
        """alert_fire.lua's ARGV[13..14]."""
        return [",".join(repr(float(d)) for d in self.delays), str(self.next_step)]


NO_PLAN_ARGV = ["", "1"]


def steps_for(alerts: AlertsSettings, rule_name: str, severity: AlertSeverity) -> list[EscalationStep] | None:
    """The steps of an episode of ``rule_name`` at ``severity``: the rule's own, else its severity's, else None."""
    return steps_and_source(alerts, rule_name, severity)[0]


def steps_and_source(alerts: AlertsSettings, rule_name: str,
                     severity: AlertSeverity) -> tuple[list[EscalationStep] | None, str]:
    """``steps_for`` and the configuration key they come from (``check-config`` shows it)."""
    override, custom = alerts.rules.get(rule_name), alerts.custom_rules.get(rule_name)
    if override is not None and override.escalation:
        return override.escalation, f"alerts.rules.{rule_name}.escalation"
    if custom is not None and custom.escalation:
        return custom.escalation, f"alerts.custom_rules.{rule_name}.escalation"
    return alerts.escalation.for_severity(severity), f"alerts.escalation.{severity.value}"


def plan(steps: Sequence[EscalationStep]) -> Plan:
    """The start of an escalation (pure): steps at 0 s go with the first notice, the others wait their turn."""
    first = [s for s in steps if s.after_seconds <= 0]
    destinations = list(dict.fromkeys(d for s in first for d in s.channels))
    return Plan(first_destinations=destinations, delays=[s.after_seconds for s in steps], next_step=len(first) + 1)


def configured(settings: Settings) -> bool:
    """Whether any escalation is configured (beat then schedules ``workers.rules.escalate``)."""
    return bool(settings.alerts.escalation_destinations())  # every step names at least one


def start(alert: Alert, alerts: AlertsSettings) -> Plan | None:
    """Give a new episode its escalation, if any: its steps recorded on the alert (those at 0 s reached) and
    its channels the types of theirs (possibly none: nobody is told before the first step). None without
    escalation."""
    steps = steps_for(alerts, alert.rule_name, alert.severity)
    if not steps:
        return None
    chosen = plan(steps)
    alert.escalation = [{"after_seconds": s.after_seconds, "channels": list(s.channels), REACHED: s.after_seconds <= 0}
                        for s in steps]
    alert.channels = _types(chosen.first_destinations)
    return chosen


def step_of(kind: str) -> int | None:
    """n for an ``escalated-<n>`` kind, else None."""
    if kind_base(kind) is not NotificationKind.ESCALATED:
        return None
    return int(kind.rpartition("-")[2])


def step_destinations(alert: Alert, step: int) -> list[str]:
    """The destinations step ``step`` (1-based) of ``alert``'s escalation names (none when it has no such step)."""
    if not 1 <= step <= len(alert.escalation):
        return []
    return [str(d) for d in alert.escalation[step - 1].get("channels", [])]


def reach(alert: Alert, step: int) -> bool:
    """Record on ``alert`` that step ``step`` was reached: its destinations get the repeats and the end, and
    the alert's channels (what is shown) gain their types. False when it was recorded already (or no such step)."""
    if not 1 <= step <= len(alert.escalation) or alert.escalation[step - 1].get(REACHED):
        return False
    alert.escalation[step - 1][REACHED] = True
    alert.channels = list(dict.fromkeys([*alert.channels, *_types(step_destinations(alert, step))]))
    return True


def told(alert: Alert) -> list[str] | None:
    """Where an escalated episode's firing, repeat, resolved and stale notices go: the destinations of the
    steps it reached (none before its first step); None for an alert without escalation (routes decide)."""
    if not alert.escalation:
        return None
    reached = [step for step in alert.escalation
               if step.get(REACHED, float(step.get("after_seconds", 0)) <= 0)]  # records older than REACHED
    return list(dict.fromkeys(str(d) for step in reached for d in step.get("channels", [])))


def _types(destinations: Sequence[str]) -> list[AlertChannel]:
    return list(dict.fromkeys(parse_destination(d)[0] for d in destinations))


def claim(store: Store, keys: KeySpace, member: str) -> tuple[str, str, int]:
    """Reach ``member``'s next step if due (alert_escalate.lua): (outcome, alert id, step)."""
    rule_name, fp = member.split("|", 1)
    outcome, alert_id, step = store.run_script(
        "alert_escalate", [keys.alert_state(rule_name, fp), keys.alerts_active, keys.alerts_escalation,
                           keys.notify_outbox], [member, outbox.entry("", "")], durable=True)  # records the step's outbox entry
    return str(outcome), str(alert_id), int(step)


def due(store: Store, keys: KeySpace, limit: int = DUE_LIMIT) -> list[str]:
    """Members whose next step is due now on the Redis clock."""
    return list(store.r.zrangebyscore(keys.alerts_escalation, "-inf", store.now(), start=0, num=limit))


def run_due(manager: AlertManager, limit: int = DUE_LIMIT) -> list[tuple[str, int]]:
    """Every step due now, each claimed once across workers and handed to its channels: [(alert id, step)]."""
    reached: list[tuple[str, int]] = []
    for member in due(manager.store, manager.keys, limit):
        for _ in range(100):  # several steps may be due at once (an ack ended past two of them)
            outcome, alert_id, step = claim(manager.store, manager.keys, member)
            if outcome != "escalated":
                break
            manager.escalated(alert_id, step)
            reached.append((alert_id, step))
    return reached
