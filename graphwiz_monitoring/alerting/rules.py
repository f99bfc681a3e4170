"""The rules a process evaluates: one registry of built-ins (with overrides), YAML rules and rule modules.

The rule model and language live in graphwiz_monitoring.rulebook (re-exported here: ``AlertRule`` keeps
its original import path). Rule modules (``alerts.rule_modules``, imported by workers) expose
``RULES: list[AlertRule]`` and/or ``register(registry: RuleRegistry) -> None``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from graphwiz_monitoring.errors import RuleError
from graphwiz_monitoring.rulebook.rules import (
    BUILTIN_RULES,
    FAST_SECTIONS,
    MANUAL_RULE,
    ONE_SHOT_RULES,
    AlertRule,
    BuiltinRule,
    builtin_rule,
    custom_rule,
    known_values,
)

if TYPE_CHECKING:
    from graphwiz_monitoring.config import AlertsSettings

__all__ = ["BUILTIN_RULES", "FAST_SECTIONS", "MANUAL_RULE", "ONE_SHOT_RULES", "AlertRule", "BuiltinRule", "CustomRules", "RuleRegistry",
           "builtin_rule", "custom_rule", "known_values", "load_module_rules", "load_rules"]


class RuleRegistry:
    """The rules a process evaluates, by name; refuses duplicates."""

    def __init__(self, rules: Iterable[AlertRule] = ()) -> None:
        self._rules: dict[str, AlertRule] = {}
        for rule in rules:
            self.register(rule)

    def register(self, rule: AlertRule) -> AlertRule:
        if not isinstance(rule, AlertRule):
            raise RuleError(f"expected an AlertRule, got {type(rule).__name__}")
        if rule.name in self._rules:
            raise RuleError(f"duplicate alert rule {rule.name!r}")
        self._rules[rule.name] = rule
        return rule

    def get(self, name: str) -> AlertRule | None:
        return self._rules.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._rules

    def __iter__(self) -> Iterator[AlertRule]:
        return iter(list(self._rules.values()))

    def __len__(self) -> int:
        return len(self._rules)

    def names(self) -> list[str]:
        return list(self._rules)


def load_rules(alerts: AlertsSettings, *, load_modules: bool = False) -> RuleRegistry:
    """Built-ins (with overrides), YAML rules and, in workers, rule modules; RuleError lists every problem."""
    registry, problems = RuleRegistry(), []
    unknown = sorted(set(alerts.rules) - set(BUILTIN_RULES))
    problems += [f"alerts.rules.{n}: unknown built-in rule (known: {', '.join(BUILTIN_RULES)})" for n in unknown]
    for name in BUILTIN_RULES:
        try:
            registry.register(builtin_rule(name, alerts.rules.get(name)))
        except RuleError as exc:
            problems.append(str(exc))
    for name, spec in alerts.custom_rules.items():
        try:
            if name in BUILTIN_RULES or name in ONE_SHOT_RULES:
                raise RuleError(f"name {name!r} is taken by a built-in rule")
            registry.register(custom_rule(name, spec))
        except RuleError as exc:
            problems.append(f"alerts.custom_rules.{name}: {exc}")
    if load_modules:
        for module_name in alerts.rule_modules:
            try:
                load_module_rules(module_name, registry)
            except RuleError as exc:
                problems.append(f"alerts.rule_modules: {module_name}: {exc}")
    if problems:
        raise RuleError(f"{len(problems)} alert rule problem(s):\n" + "\n".join(f"  - {p}" for p in problems))
    return registry


def load_module_rules(module_name: str, registry: RuleRegistry) -> None:
    """Import one rule module and add its ``RULES`` and/or let its ``register(registry)`` add rules."""
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of user code is a configuration problem
        raise RuleError(f"cannot import: {type(exc).__name__}: {exc}") from None
    rules, register = getattr(module, "RULES", None), getattr(module, "register", None)
    if rules is None and not callable(register):
        raise RuleError("defines neither RULES nor register(registry)")
    for rule in rules or ():
        registry.register(rule)
    if callable(register):
        register(registry)


class CustomRules(dict):  # type: ignore[type-arg]
    """``alert_manager.custom_rules``: a dict of name -> AlertRule that tells listeners when a rule is added."""

    def __init__(self) -> None:
        super().__init__()
        self.listeners: list[Callable[[AlertRule], None]] = []

    def __setitem__(self, name: str, rule: AlertRule) -> None:
        if not isinstance(rule, AlertRule):
            raise RuleError(f"custom_rules[{name!r}] must be an AlertRule, got {type(rule).__name__}")
        super().__setitem__(name, rule)
        for listener in list(self.listeners):
            listener(rule)
