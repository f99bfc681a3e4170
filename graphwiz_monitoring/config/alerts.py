"""Alerting settings: cooldowns, built-in rule overrides, custom rules, silences, inhibitions, escalation,
maintenance windows and the digest (the last two in config/maintenance.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from graphwiz_monitoring.config.fields import Channels, PositiveSeconds, Severity, StrictModel
from graphwiz_monitoring.config.maintenance import DigestSettings, MaintenanceWindowSettings
from graphwiz_monitoring.config.routing import (
    DEFAULT_GROUP_INTERVAL_SECONDS,
    Destinations,
    GroupBy,
    RouteSettings,
)
from graphwiz_monitoring.vocabulary import AlertChannel, AlertSeverity


class EscalationStep(StrictModel):
    """One step of an escalation: ``after_seconds`` from the episode's start, its destinations (``telegram``
    or a named ``telegram:oncall``) are told once (unless it was acknowledged), then get its repeats and
    its end (docs/ALERTS.md "Escalation")."""

    after_seconds: float = Field(ge=0, allow_inf_nan=False)
    channels: Destinations


def _ordered(steps: list[EscalationStep]) -> list[EscalationStep]:
    if not steps:
        raise ValueError("must list at least one step, got []")
    delays = [s.after_seconds for s in steps]
    if delays != sorted(delays) or len(set(delays)) != len(delays):
        raise ValueError(f"steps must have increasing after_seconds, got {delays}")
    return steps


Escalation = Annotated[list[EscalationStep], AfterValidator(_ordered)]


class EscalationSettings(StrictModel):
    """``alerts.escalation.<severity>``: the steps of episodes of that severity (none: today's behaviour,
    the rule's channels at once and on every repeat)."""

    info: Escalation | None = None
    warning: Escalation | None = None
    critical: Escalation | None = None
    emergency: Escalation | None = None

    @model_validator(mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        """Severities are case-insensitive everywhere (``EMERGENCY:`` as ``emergency:``)."""
        return {k.lower() if isinstance(k, str) else k: v for k, v in value.items()} if isinstance(value, dict) else value

    def for_severity(self, severity: AlertSeverity) -> list[EscalationStep] | None:
        steps: list[EscalationStep] | None = getattr(self, severity.value)
        return steps


class CooldownSettings(StrictModel):
    info: PositiveSeconds = 600
    warning: PositiveSeconds = 300
    critical: PositiveSeconds = 60
    emergency: PositiveSeconds = 10

    def for_severity(self, severity: AlertSeverity) -> float:
        return getattr(self, severity.value)


class RuleOverride(StrictModel):
    """Overrides for one built-in rule; unset fields keep the built-in default."""

    enabled: bool = True
    threshold: float | None = None
    severity: Severity | None = None
    channels: Channels | None = None
    cooldown_seconds: PositiveSeconds | None = None
    for_seconds: float = Field(0, ge=0)
    escalation: Escalation | None = None  # this rule's steps, instead of alerts.escalation.<severity>


class CustomRuleSettings(StrictModel):
    """A YAML rule: a safe expression over the metrics snapshot (never eval'd)."""

    condition: str
    severity: Severity = AlertSeverity.WARNING
    channels: Channels = Field(default_factory=lambda: [AlertChannel.LOG])
    title: str
    message: str
    cooldown_seconds: PositiveSeconds | None = None
    for_seconds: float = Field(0, ge=0)
    enabled: bool = True
    labels: dict[str, str] = Field(default_factory=dict)
    escalation: Escalation | None = None  # this rule's steps, instead of alerts.escalation.<severity>

    @model_validator(mode="after")
    def _compile(self) -> CustomRuleSettings:
        from graphwiz_monitoring.rulebook.rules import check_custom_rule  # lazy: rules imports config types

        check_custom_rule(self)  # RuleError is a ValueError: reported with this rule's key path
        return self


class SilenceSettings(StrictModel):
    """Mute matching alerts between ``starts_at`` and ``ends_at`` (ISO-8601); matchers are label=value."""

    matchers: dict[str, str]
    starts_at: str | None = None
    ends_at: str
    author: str = "config"
    reason: str = ""

    @model_validator(mode="after")
    def _times(self) -> SilenceSettings:
        from graphwiz_monitoring.rulebook.silences import check_silence_settings

        check_silence_settings(self)
        return self


class InhibitSettings(StrictModel):
    """While an alert matching ``source`` fires, alerts matching ``target`` with equal ``equal`` labels are muted."""

    source: dict[str, str]
    target: dict[str, str]
    target_rules: list[str] = Field(default_factory=list)
    equal: list[str] = Field(default_factory=list)


def _default_inhibit() -> list[InhibitSettings]:
    return [
        InhibitSettings(source={"rule": "exchange_disconnect"}, target={}, target_rules=["high_latency", "rate_limit"],
                        equal=["exchange"]),
    ]


class AlertsSettings(StrictModel):
    cooldowns: CooldownSettings = Field(default_factory=CooldownSettings)
    rules: dict[str, RuleOverride] = Field(default_factory=dict)
    custom_rules: dict[str, CustomRuleSettings] = Field(default_factory=dict)
    rule_modules: list[str] = Field(default_factory=list)
    silences: list[SilenceSettings] = Field(default_factory=list)
    inhibit: list[InhibitSettings] = Field(default_factory=_default_inhibit)
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)
    # The resolved notice of an alert goes out once its condition stayed clear this long (the alert
    # itself is resolved at once); a breach back sooner continues the episode with no notice. 0: at once.
    resolve_after_seconds: float = Field(0, ge=0)
    history_retention_hours: PositiveSeconds = 168
    history_max_entries: int = Field(10_000, gt=0)
    # Fast path: ingested data re-evaluates the affected rules at most this often.
    fast_evaluation_min_interval_seconds: float = Field(0.05, ge=0)
    maintenance: dict[str, MaintenanceWindowSettings] = Field(default_factory=dict)
    digest: DigestSettings | None = None
    # Storms (docs/ALERTS.md "Grouping"): notifications whose alerts share these labels' values and start
    # within the interval go out as one message per destination after the first one. 0: no grouping.
    group_by: GroupBy = Field(default_factory=lambda: ["rule"])
    group_interval_seconds: float = Field(DEFAULT_GROUP_INTERVAL_SECONDS, ge=0)
    # Ordered matchers -> destinations (docs/ALERTS.md "Routing"); none matching: the rule's own channels.
    routes: list[RouteSettings] = Field(default_factory=list)

    def escalation_destinations(self) -> list[tuple[str, str]]:
        """(config path, destination) of every escalation step (severities, rule overrides, custom rules)."""
        found: list[tuple[str, list[EscalationStep] | None]] = [
            (f"alerts.escalation.{s.value}", self.escalation.for_severity(s)) for s in AlertSeverity]
        found += [(f"alerts.rules.{n}.escalation", r.escalation) for n, r in self.rules.items()]
        found += [(f"alerts.custom_rules.{n}.escalation", r.escalation) for n, r in self.custom_rules.items()]
        return [(f"{path}[{i}].channels", d) for path, steps in found for i, step in enumerate(steps or [])
                for d in step.channels]

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: dict[str, RuleOverride]) -> dict[str, RuleOverride]:
        from graphwiz_monitoring.rulebook.rules import check_overrides

        check_overrides(value)
        return value
