"""The workers' effective alerting configuration, published for other processes (the trader).

Rule workers write the non-secret part of their ``alerts`` section (YAML ``custom_rules`` and the
built-in rule overrides ``rules``) as JSON at ``KeySpace.alerting_published``, when their manager is
built and on every periodic evaluation. Nothing under ``notifications`` is published (URLs, tokens,
passwords stay in the workers' configuration): channel choice is made at delivery time by the notify
worker (alerting/delivery.py), so a process needs no channel configuration to create alerts.

A trader's ``check_alert(name)`` finds a rule in this order (``rule_for``):

1. the trader's own ``alert_manager.custom_rules`` (Python rules registered in the process);
2. a rule the trader's own configuration defines or overrides (``alerts.custom_rules`` / ``alerts.rules``);
3. the deployment's published rules (a YAML rule, or a built-in with the deployment's override);
4. the built-in defaults and rule modules the trader loaded.

Who is told of a trader's alerts is the deployment's decision too: the ``policy`` part (routes, grouping,
maintenance windows, escalation steps) is what a trader's notifier reads (``read_published``).
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from pydantic import ValidationError

from graphwiz_monitoring.alerting.rules import BUILTIN_RULES, AlertRule, builtin_rule, custom_rule
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.config.alerts import AlertsSettings
from graphwiz_monitoring.errors import RuleError
from graphwiz_monitoring.state import KeySpace, Store

log = logging.getLogger(__name__)

PUBLISHED_TTL_SECONDS = 7 * 86_400
FORMAT_VERSION = 1


def published_config(settings: Settings) -> dict[str, Any]:
    """The non-secret alerting configuration a deployment shares: YAML rules and built-in overrides."""
    alerts = settings.alerts
    return {"version": FORMAT_VERSION,
            "custom_rules": {n: s.model_dump(mode="json", by_alias=True) for n, s in alerts.custom_rules.items()},
            "rules": {n: o.model_dump(mode="json", exclude_unset=True) for n, o in alerts.rules.items()},
            # Routes name destinations (``telegram:ops``), never their URLs or tokens.
            "policy": {"group_by": alerts.group_by, "group_interval_seconds": alerts.group_interval_seconds,
                       "routes": [r.model_dump(mode="json", by_alias=True) for r in alerts.routes],
                       "maintenance": {n: w.model_dump(mode="json") for n, w in alerts.maintenance.items()},
                       "escalation": alerts.escalation.model_dump(mode="json", exclude_none=True)}}


def publish(store: Store, keys: KeySpace, settings: Settings) -> None:
    """Write this worker's ``published_config`` (every rule worker writes the same deployment's)."""
    store.r.set(keys.alerting_published, json.dumps(published_config(settings), sort_keys=True),
                ex=PUBLISHED_TTL_SECONDS)


def read_published(store: Store, keys: KeySpace) -> AlertsSettings | None:
    """The deployment's published alerting configuration, validated like a YAML file: its rules and its
    policy (routes, grouping, maintenance windows, escalation steps); None when absent or unreadable."""
    raw = store.r.get(keys.alerting_published)
    if not raw:
        return None
    return _parsed(raw)


@functools.lru_cache(maxsize=4)
def _parsed(raw: str) -> AlertsSettings | None:
    """``raw`` validated once: it changes only when the deployment's configuration does (validation
    compiles every YAML rule, and a trader reads the policy for each alert it observes)."""
    try:
        data = json.loads(raw)
        return AlertsSettings.model_validate({**(data.get("policy") or {}),
                                              "custom_rules": data.get("custom_rules") or {},
                                              "rules": data.get("rules") or {}})
    except (ValueError, AttributeError, TypeError, ValidationError) as exc:
        log.warning("published alerting configuration unreadable (%s); ignored", str(exc)[:200])
        return None


def published_rule(store: Store, keys: KeySpace, name: str) -> AlertRule | None:
    """The rule ``name`` as the deployment's workers define it, if they define it."""
    alerts = read_published(store, keys)
    if alerts is None:
        return None
    if name in alerts.custom_rules:
        return custom_rule(name, alerts.custom_rules[name])
    if name in alerts.rules and name in BUILTIN_RULES:
        return builtin_rule(name, alerts.rules[name])
    return None


def rule_for(name: str, *, local: dict[str, AlertRule], registry: Any, settings: Settings, store: Store,
             keys: KeySpace) -> AlertRule:
    """The rule ``check_alert(name)`` evaluates (the module docstring's order); RuleError when none."""
    rule = local.get(name)
    if rule is not None:
        return rule
    own = settings.alerts
    if name in own.custom_rules or name in own.rules:
        rule = registry.get(name)
        if rule is not None:
            return rule
    rule = published_rule(store, keys, name) or registry.get(name)
    if rule is None:
        raise RuleError(f"unknown alert rule {name!r} (not registered here, not in this process's alerts "
                        "configuration, not published by the deployment's rule workers)")
    return rule
