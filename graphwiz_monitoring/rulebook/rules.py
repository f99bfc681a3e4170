"""The rule language's model: ``AlertRule``, the built-ins, YAML rules, and their config-time checks.

A rule's ``condition`` is either an expression string (see expressions.py) or a Python callable
taking the metrics snapshot. A callable may return a bool, one label mapping, or an iterable of label
mappings (one alert per mapping, e.g. ``[{"exchange": "binance"}]``); an exception from it skips the
rule for that evaluation (logged once per distinct error), it never resolves or fires anything.
A callable sees only the values that are known: a metric that cannot be computed yet (drawdown with
neither ``monitoring.initial_capital_usd`` nor portfolio snapshots, Sharpe before enough days, ...)
is left out rather than given as None, so ``m.get("trading", {}).get("current_drawdown", 0)`` takes
its default as the original description's example expects.

Pure: the settings schema (config/) validates YAML rules with ``check_custom_rule`` and
``check_overrides``, the alerting area evaluates them.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphwiz_monitoring.errors import RuleError
from graphwiz_monitoring.rulebook.expressions import Expression, Match, compile_expression
from graphwiz_monitoring.rulebook.templates import (
    ALERT_FIELDS,
    KNOWN_FIELDS,
    WILDCARD_LABELS,
    Template,
    field_values,
)
from graphwiz_monitoring.vocabulary import AlertChannel, AlertSeverity

if TYPE_CHECKING:
    from graphwiz_monitoring.config import CooldownSettings, CustomRuleSettings, RuleOverride

log = logging.getLogger(__name__)

RULE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
# Sections only traders feed: a rule reading them is stale when every trader that reported is (docs/ALERTS.md).
TRADER_SECTIONS = frozenset({"trading", "exchanges", "risk", "portfolio", "agents", "neo4j"})
# Sections whose rules also run on the fast path: what ingested data changes, and the pipeline's own
# health (``monitoring``): the fast path is the one evaluation that does not need beat, so beat_down
# can still fire while traders send data.
FAST_SECTIONS = TRADER_SECTIONS | {"monitoring"}
MANUAL_RULE = "manual"
DIGEST_RULE = "digest"  # the scheduled digest (health/digest.py)
# One-shot alerts: sent when asked for, never an episode, never held by a maintenance window.
ONE_SHOT_RULES = frozenset({MANUAL_RULE, DIGEST_RULE})

Condition = Callable[[Mapping[str, Any]], Any]


@dataclass(eq=False)
class AlertRule:
    """When ``condition`` holds (for ``for_seconds``), alert on ``channels``: one episode, repeated every cooldown.

    ``cooldown_seconds=None`` takes the severity default from ``alerts.cooldowns``. ``labels`` are
    added to every alert (and usable in templates, silences and inhibition). For callables,
    ``match_labels`` names the labels the callable's matches may carry (templates may use them) and
    ``sections`` the snapshot sections it reads (None: all, so it also runs on the fast path).
    """

    name: str
    condition: Condition | str
    severity: AlertSeverity | str = AlertSeverity.WARNING
    channels: Sequence[AlertChannel | str] = (AlertChannel.LOG,)
    title_template: str = "{rule}"
    message_template: str = ""
    cooldown_seconds: float | None = None
    for_seconds: float = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    threshold: float | None = None
    enabled: bool = True
    match_labels: Iterable[str] | None = None
    sections: Iterable[str] | None = None
    _last_error: str | None = field(default=None, init=False, repr=False)  # of a callable condition

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not RULE_NAME.match(self.name):
            raise RuleError(f"rule name must match {RULE_NAME.pattern}, got {self.name!r}")
        where = f"rule {self.name}"
        try:
            self.severity = AlertSeverity.parse(self.severity)
            self.channels = [AlertChannel.parse(c) for c in ([self.channels] if isinstance(self.channels, str)
                                                             else self.channels)]
        except (ValueError, TypeError) as exc:
            raise RuleError(f"{where}: {exc}") from None
        if not self.channels:
            raise RuleError(f"{where}: needs at least one channel")
        if self.cooldown_seconds is not None and not (_finite(self.cooldown_seconds) and self.cooldown_seconds >= 0):
            raise RuleError(f"{where}: cooldown_seconds must be a number >= 0, got {self.cooldown_seconds!r}")
        if not (_finite(self.for_seconds) and self.for_seconds >= 0):
            raise RuleError(f"{where}: for_seconds must be a number >= 0, got {self.for_seconds!r}")
        self.labels = {str(k): str(v) for k, v in dict(self.labels).items()}
        self.expression: Expression | None = None
        if isinstance(self.condition, str):
            try:
                self.expression = compile_expression(self.condition)
            except RuleError as exc:
                raise RuleError(f"{where}: condition {self.condition!r}: {exc}") from None
            self.match_labels = frozenset(self.expression.labels)
            self.sections = self.expression.sections
        elif callable(self.condition):
            self.match_labels = frozenset(WILDCARD_LABELS if self.match_labels is None else self.match_labels)
            self.sections = None if self.sections is None else frozenset(self.sections)
        else:
            raise RuleError(f"{where}: condition must be an expression string or a callable")
        allowed = KNOWN_FIELDS | ALERT_FIELDS | set(self.labels) | set(self.match_labels)
        self.title = Template(self.title_template, allowed, where=f"{where}: title")
        self.message = Template(self.message_template, allowed, where=f"{where}: message")

    @property
    def fast(self) -> bool:
        """Whether ingested data can change this rule's outcome (so the fast path evaluates it)."""
        return self.sections is None or bool(set(self.sections) & FAST_SECTIONS)

    def cooldown(self, cooldowns: CooldownSettings) -> float:
        return float(self.cooldown_seconds) if self.cooldown_seconds is not None else cooldowns.for_severity(
            self.severity)  # type: ignore[arg-type]

    def evaluate(self, snapshot: Mapping[str, Any]) -> list[Match] | None:
        """The matches (empty: not breached), or None when the condition could not be evaluated."""
        if self.expression is not None:
            return list(self.expression.evaluate(snapshot).matches)
        try:
            result = self.condition(known_values(snapshot))  # type: ignore[operator]
        except Exception as exc:  # a user callable: log it, never let it break other rules
            error = f"{type(exc).__name__}: {exc}"
            if error != self._last_error:  # the traceback once, not every few seconds while it persists
                log.exception("alert rule %s: condition raised; rule skipped until it evaluates", self.name)
            self._last_error = error
            return None
        if self._last_error is not None:
            log.info("alert rule %s: condition evaluates again", self.name)
            self._last_error = None
        return _callable_matches(result)

    def render(self, match: Match, snapshot: Mapping[str, Any], extra: Mapping[str, Any] | None = None,
               fingerprint: str = "") -> tuple[str, str]:
        values = field_values(snapshot, match.label_dict)
        values.update(self.labels)
        values.update(rule=self.name, severity=AlertSeverity.parse(self.severity).value.upper(),
                      threshold=self.threshold, value=match.value, fingerprint=fingerprint)
        values.update(extra or {})
        return self.title.render(values), self.message.render(values)


def known_values(value: Any) -> Any:
    """``value`` with None entries left out of every mapping in it (what a callable condition sees)."""
    if isinstance(value, Mapping):
        return {k: known_values(v) for k, v in value.items() if v is not None}
    return value


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _callable_matches(result: Any) -> list[Match]:
    if result is None or result is False or result is True:
        return [Match()] if result is True else []
    if isinstance(result, Mapping):
        result = [result]
    if isinstance(result, (list, tuple, set, frozenset)) or isinstance(result, Iterator):
        matches = []
        for item in result:
            if isinstance(item, Mapping):
                matches.append(Match(tuple(sorted((str(k), str(v)) for k, v in item.items()))))
        return matches
    return [Match()] if result else []


# ---------------------------------------------------------------- the built-ins

@dataclass(frozen=True)
class BuiltinRule:
    condition: str  # "{threshold}" is replaced by the (possibly overridden) threshold
    threshold: float | None
    severity: AlertSeverity
    channels: tuple[AlertChannel, ...]
    title: str
    message: str
    for_seconds: float = 0  # the default ``for``; alerts.rules.<name>.for_seconds overrides it


_D, _S, _E, _T, _L = (AlertChannel.DISCORD, AlertChannel.SLACK, AlertChannel.EMAIL, AlertChannel.TELEGRAM,
                      AlertChannel.LOG)
_W, _C, _X = AlertSeverity.WARNING, AlertSeverity.CRITICAL, AlertSeverity.EMERGENCY

BUILTIN_RULES: dict[str, BuiltinRule] = {
    "high_cpu": BuiltinRule(
        "any(system.hosts.*.cpu_percent > {threshold})", 90, _W, (_D, _S, _L),
        "High CPU usage on {host}", "CPU usage at {cpu_percent:.1f}% on {host} (threshold {threshold:g}%)"),
    "high_memory": BuiltinRule(
        "any(system.hosts.*.memory_percent > {threshold})", 90, _W, (_D, _S, _L),
        "High memory usage on {host}", "Memory usage at {memory_percent:.1f}% on {host} (threshold {threshold:g}%)"),
    "exchange_disconnect": BuiltinRule(
        "any(exchanges.*.connected == False)", None, _C, (_D, _S, _E, _L),
        "Exchange {exchange} disconnected", "Lost connection to exchange {exchange}"),
    "high_latency": BuiltinRule(
        "any(exchanges.*.p99_latency > {threshold})", 5, _W, (_D, _S, _L),
        "High latency on {exchange}", "P99 latency on {exchange} is {p99_latency:.3f}s (threshold {threshold:g}s)"),
    "large_loss": BuiltinRule(
        "trading.current_drawdown > {threshold}", 0.10, _C, (_D, _S, _E, _L),
        "Large loss: drawdown {drawdown_percent:.1f}%",
        "Current drawdown {drawdown_percent:.2f}% exceeds {threshold:.1%} (P&L {pnl_usd:.2f} USD)"),
    "rate_limit": BuiltinRule(
        "any(exchanges.*.rate_limit_remaining < {threshold})", 10, _W, (_D, _L),
        "Rate limit nearly exhausted on {exchange}",
        "Only {rate_limit_remaining:g} requests left on {exchange} (threshold {threshold:g})"),
    "neo4j_disconnect": BuiltinRule(
        "neo4j.connected == False", None, _C, (_D, _S, _E, _L),
        "Neo4j disconnected", "Lost connection to the Neo4j knowledge graph"),
    "agent_failure": BuiltinRule(
        "any(agents.*.failures > {threshold})", 5, _W, (_D, _L),
        "Agent {agent} failing", "Agent {agent} failed {failures:g} times recently (threshold {threshold:g})"),
    "risk_limit_breach": BuiltinRule(
        "risk.leverage > {threshold}", 3, _X, (_D, _S, _E, _T, _L),
        "Risk limit breach: leverage {leverage:.2f}x", "Leverage {leverage:.2f}x exceeds the {threshold:g}x limit"),
    "disk_space": BuiltinRule(
        "any(system.hosts.*.disks.* > {threshold})", 90, _W, (_D, _L),
        "Disk {mount} on {host} almost full", "Disk {mount} on {host} at {disk_percent:.1f}% (threshold {threshold:g}%)"),
    # A trader that reported and went silent (health_checks.trader_stale_seconds, Redis clock): the rules
    # reading its data end their episodes as ``stale`` instead of firing on its last values.
    "trader_down": BuiltinRule(
        "any(traders.*.stale == True)", None, _C, (_D, _S, _E, _L),
        "Trader {trader} down", "Trader {trader} stopped reporting: alerts on its data are stale"),
    # Self-monitoring: the snapshot's ``monitoring`` section (metrics/pipeline.py), ages on the Redis clock.
    # No beat tick for longer than a failover takes (beat.failover_seconds, 30 s by default).
    "beat_down": BuiltinRule(
        "monitoring.beat_age_seconds > {threshold}", 90, _C, (_D, _S, _E, _L),
        "Beat is not scheduling",
        "No beat has ticked for {beat_age_seconds:.0f}s (threshold {threshold:g}s): health checks, periodic rule "
        "evaluations and the dead-man's switch pings stopped"),
    "queue_unconsumed": BuiltinRule(
        "any(monitoring.queues.*.length > 0 and monitoring.queues.*.consumers == 0)", None, _C, (_D, _S, _E, _L),
        "No worker consumes queue {queue}",
        "Tasks wait in {queue} and no live worker consumes it: they will never run (start a worker with -Q {queue})",
        for_seconds=60),  # a restarted worker registers again within seconds (celery/liveness.py)
    "notify_dead_letters": BuiltinRule(
        "monitoring.notify_dead_lettered_age_seconds < {threshold}", 900, _W, (_D, _S, _L),
        "Notifications are being dead-lettered",
        "A notification was dead-lettered {notify_dead_lettered_age_seconds:.0f}s ago (window {threshold:g}s): a "
        "channel keeps failing; see `graphwiz-monitoring dlq list --kind notification`"),
    "redis_memory_high": BuiltinRule(
        "monitoring.redis_memory_percent > {threshold}", 80, _W, (_D, _S, _L),
        "Redis memory at {redis_memory_percent:.0f}% of maxmemory",
        "Redis uses {redis_memory_percent:.1f}% of its maxmemory (threshold {threshold:g}%): with noeviction, writes "
        "fail once it is full"),
}


def builtin_rule(name: str, override: RuleOverride | None = None) -> AlertRule:
    """One built-in rule with ``alerts.rules.<name>`` applied."""
    spec = BUILTIN_RULES[name]
    threshold = spec.threshold
    if override is not None and override.threshold is not None:
        if spec.threshold is None:
            raise RuleError(f"alerts.rules.{name}.threshold: this rule has no threshold")
        if not _finite(override.threshold):
            raise RuleError(f"alerts.rules.{name}.threshold: must be a finite number, got {override.threshold!r}")
        threshold = float(override.threshold)
    condition = spec.condition.replace("{threshold}", repr(float(threshold)) if threshold is not None else "")
    o = override
    return AlertRule(
        name=name, condition=condition, threshold=threshold,
        severity=(o.severity if o and o.severity else spec.severity),
        channels=list(o.channels if o and o.channels else spec.channels),
        title_template=spec.title, message_template=spec.message,
        cooldown_seconds=(o.cooldown_seconds if o else None),  # None: alerts.cooldowns.<severity>
        for_seconds=(o.for_seconds if o and "for_seconds" in o.model_fields_set else spec.for_seconds),
        enabled=(o.enabled if o else True),
    )


def custom_rule(name: str, spec: CustomRuleSettings) -> AlertRule:
    """A YAML rule from ``alerts.custom_rules.<name>``."""
    return AlertRule(name=name, condition=spec.condition, severity=spec.severity, channels=list(spec.channels),
                     title_template=spec.title, message_template=spec.message,
                     cooldown_seconds=spec.cooldown_seconds, for_seconds=spec.for_seconds,
                     labels=spec.labels, enabled=spec.enabled)


def check_custom_rule(spec: CustomRuleSettings) -> None:
    """Config-time validation of one YAML rule (condition and templates); raises RuleError."""
    try:
        custom_rule("yaml_rule", spec)
    except RuleError as exc:
        message = str(exc).removeprefix("rule yaml_rule: ")
        # The parser quotes the expression; a 100 kB condition must not become a 100 kB error.
        raise RuleError(message if len(message) <= 500 else message[:500] + "...") from None


def check_overrides(overrides: Mapping[str, RuleOverride]) -> None:
    """Config-time validation of ``alerts.rules``: known names, thresholds only where a rule has one."""
    problems = [f"{n}: unknown built-in rule (known: {', '.join(BUILTIN_RULES)})"
                for n in overrides if n not in BUILTIN_RULES]
    for name, override in overrides.items():
        if name in BUILTIN_RULES:
            try:
                builtin_rule(name, override)
            except RuleError as exc:
                problems.append(str(exc).removeprefix("alerts.rules."))
    if problems:
        raise RuleError("; ".join(problems))
