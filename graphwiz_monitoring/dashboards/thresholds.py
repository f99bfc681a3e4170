"""Panel thresholds taken from the alert rules and settings, so a panel turns the alert's colour exactly
where the alert fires (``alerts.rules.<name>.threshold``/``severity`` overrides included)."""

from __future__ import annotations

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.dashboards.model import Step, above, below
from graphwiz_monitoring.errors import DashboardError
from graphwiz_monitoring.rulebook.rules import builtin_rule
from graphwiz_monitoring.vocabulary import AlertSeverity


def rule_threshold(settings: Settings, rule: str) -> tuple[float, AlertSeverity]:
    """The effective threshold and severity of a built-in rule."""
    effective = builtin_rule(rule, settings.alerts.rules.get(rule))
    if effective.threshold is None:
        raise DashboardError(f"built-in rule {rule} has no threshold")
    return float(effective.threshold), AlertSeverity.parse(effective.severity)


def above_rule(settings: Settings, rule: str) -> tuple[Step, ...]:
    """Green below the rule's threshold, its severity colour at and above."""
    return above(*rule_threshold(settings, rule))


def below_rule(settings: Settings, rule: str) -> tuple[Step, ...]:
    """The rule's severity colour below its threshold (e.g. rate-limit headroom), green above."""
    return below(*rule_threshold(settings, rule))


def health_threshold(settings: Settings, check: str, key: str) -> float:
    """A health check's configured threshold (``health_checks.checks.<check>.thresholds.<key>``)."""
    try:
        return float(settings.health_checks.checks[check].thresholds[key])
    except KeyError:
        raise DashboardError(f"health check {check} has no threshold {key!r}") from None
