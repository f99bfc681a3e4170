"""``check-config``'s route report: where each rule's notifications go (alerting/routing.py), as YAML comments
so the command's output stays one valid YAML document."""

from __future__ import annotations

from graphwiz_monitoring.alerting.escalation import steps_and_source
from graphwiz_monitoring.alerting.routing import rule_route
from graphwiz_monitoring.alerting.rules import load_rules
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.rulebook.rules import BUILTIN_RULES
from graphwiz_monitoring.vocabulary import AlertChannel, AlertSeverity


def render_routes(settings: Settings) -> str:
    """One comment line per built-in rule (then per YAML rule): its destinations, and which route says so
    (or its escalation steps, which route an escalated episode instead)."""
    alerts = settings.alerts
    registry = load_rules(alerts)
    grouping = (f"grouped by {', '.join(alerts.group_by)} within {alerts.group_interval_seconds:g} s"
                if alerts.group_interval_seconds > 0 else "not grouped")
    lines = [f"# effective routes ({len(alerts.routes)} in alerts.routes; storms {grouping}):"]
    for name in [*BUILTIN_RULES, *alerts.custom_rules]:
        rule = registry.get(name)
        if rule is None:
            continue
        severity = AlertSeverity.parse(rule.severity)  # AlertRule parses both at construction
        state = "" if rule.enabled else " (disabled)"
        steps, source = steps_and_source(alerts, rule.name, severity)
        if steps:  # an escalated episode is routed by its steps (alerting/escalation.py), not by the routes
            plan = "; ".join(f"{s.after_seconds:g} s: {', '.join(s.channels)}" for s in steps)
            lines.append(f"#   {rule.name} [{severity.value}]{state}: {plan}  <- {source}")
            continue
        route = rule_route(rule.name, severity, [AlertChannel.parse(c) for c in rule.channels], alerts.routes)
        lines.append(f"#   {rule.name} [{severity.value}]{state}: {', '.join(route.destinations)}  <- {route.via}")
        lines += [f"#     per alert: {d}" for d in route.depends]
    return "\n".join(lines)

