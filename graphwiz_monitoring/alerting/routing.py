"""Routing: which destinations an alert's notification goes to (``alerts.routes``, docs/ALERTS.md "Routing").

Routes are tried in order against the alert's labels plus ``rule`` and ``severity`` (shell-style
patterns, like silences; a list of values matches any of them). The first route that matches decides,
unless it says ``continue: true``: then the next matching routes add their destinations too
(Alertmanager's semantics). When no route matches, the alert's own ``channels`` apply, each as its
channel's default destination, exactly as before routes existed. An escalated episode is routed by its
escalation instead (alerting/escalation.py ``told``): the destinations of the steps it reached. A destination is ``<type>`` or
``<type>:<name>`` (config/routing.py); its queue is its type's ``notify.<type>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from graphwiz_monitoring.alerting import escalation
from graphwiz_monitoring.alerting.models import Alert, AlertChannel, AlertSeverity
from graphwiz_monitoring.config.alerts import AlertsSettings
from graphwiz_monitoring.config.routing import RouteSettings, destination_text, parse_destination
from graphwiz_monitoring.rulebook.silences import alert_labels


def channel_of(destination: str) -> AlertChannel:
    """The channel type of a destination (``telegram:ops`` -> TELEGRAM); ValueError when malformed."""
    return parse_destination(destination)[0]


def route_matches(route: RouteSettings, labels: Mapping[str, str]) -> bool:
    return all(any(fnmatchcase(str(labels.get(label, "")), pattern) for pattern in patterns)
               for label, patterns in route.match.items())


def routed(routes: Sequence[RouteSettings], labels: Mapping[str, str]) -> list[str] | None:
    """The destinations the routes give ``labels`` (in route order, no duplicates); None when none matches."""
    found: list[str] | None = None
    for route in routes:
        if route_matches(route, labels):
            found = (found or []) + [d for d in route.destinations if d not in (found or [])]
            if not route.continue_:
                break
    return found


def destinations(alert: Alert, alerts: AlertsSettings, asked: Iterable[str] | None = None) -> list[str]:
    """Where ``alert``'s notification goes: ``asked`` when given (e.g. an escalation step's names), else
    an escalated episode's reached steps', else the routes' destinations, else the alert's channels
    (default destinations)."""
    if asked is None:
        asked = escalation.told(alert)
    if asked is not None:
        return list(dict.fromkeys(destination_text(d) for d in asked))
    found = routed(alerts.routes, alert_labels(alert.rule_name, alert.severity, alert.labels))
    return found if found is not None else list(dict.fromkeys(c.value for c in alert.channels))


@dataclass(frozen=True)
class RuleRoute:
    """What ``check-config`` shows for one rule: the destinations its alerts get, and why."""

    rule: str
    severity: AlertSeverity
    destinations: list[str]
    via: str  # "routes 1, 3" or "the rule's channels"
    depends: list[str]  # routes whose other label matchers decide per alert: "route 2 when exchange=bin*: telegram"


def rule_route(rule: str, severity: AlertSeverity, channels: Iterable[AlertChannel],
               routes: Sequence[RouteSettings]) -> RuleRoute:
    """The effective route of a rule, judged on ``rule`` and ``severity`` only (other labels are only known
    per alert: routes matching on them are listed as ``depends``)."""
    known = alert_labels(rule, severity, {})
    decided: list[str] = []
    via: list[int] = []
    depends: list[str] = []
    for i, route in enumerate(routes, 1):
        fixed = {k: v for k, v in route.match.items() if k in known}
        other = {k: v for k, v in route.match.items() if k not in known}
        if not all(any(fnmatchcase(known[k], p) for p in v) for k, v in fixed.items()):
            continue
        if other:
            shown = ", ".join(f"{k}={'|'.join(v)}" for k, v in other.items())
            depends.append(f"route {i} when {shown}: {', '.join(route.destinations)}"
                           + (" (and the routes after it)" if route.continue_ else " (instead of the routes after it)"))
            continue
        via.append(i)
        decided += [d for d in route.destinations if d not in decided]
        if not route.continue_:
            break
    if via:
        return RuleRoute(rule, severity, decided, "route" + ("s " if len(via) > 1 else " ") +
                         ", ".join(map(str, via)), depends)
    return RuleRoute(rule, severity, [c.value for c in channels], "the rule's channels", depends)
