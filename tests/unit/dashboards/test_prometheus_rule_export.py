"""The Prometheus rule file mirrors the built-in alert rules, thresholds and overrides included."""

from __future__ import annotations

import re

import yaml

from graphwiz_monitoring.alerting.rules import BUILTIN_RULES
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.dashboards.prometheus_rules import (
    APPROXIMATIONS,
    BUILTIN_GROUP,
    EXPORTED_AS_META,
    builtin_prometheus_rules,
    prometheus_duration,
    prometheus_rule_file,
)
from tests.fakes.promql_lint import DASHBOARD_DIR, problems


def test_the_built_ins_with_their_default_thresholds_and_severities() -> None:
    committed = yaml.safe_load((DASHBOARD_DIR / "prometheus-rules.yml").read_text())
    group = next(g for g in committed["groups"] if g["name"] == BUILTIN_GROUP)
    rules = {r["alert"]: r for r in group["rules"]}
    exported = [name for name in BUILTIN_RULES if name not in EXPORTED_AS_META]
    assert list(rules) == exported and len(rules) == 14  # queue_unconsumed: the meta group's graphwiz_queue_unconsumed
    for name in exported:
        spec = BUILTIN_RULES[name]
        rule = rules[name]
        assert rule["labels"] == {"severity": spec.severity.value, "rule": name}
        assert rule["annotations"]["channels"] == ",".join(c.value for c in spec.channels)
        assert not problems(rule["expr"]), (name, problems(rule["expr"]))
        if spec.threshold is not None and name not in APPROXIMATIONS:
            assert float(re.search(r"[<>]=? ?([0-9.]+)$", rule["expr"]).group(1)) == spec.threshold, name
        assert "for" not in rule  # built-ins fire on the first breached evaluation, like the rule engine
    meta = {r["alert"]: r for g in committed["groups"] for r in g["rules"]}
    assert meta[EXPORTED_AS_META["queue_unconsumed"]]["for"] == "60s" == prometheus_duration(
        BUILTIN_RULES["queue_unconsumed"].for_seconds)


def test_overrides_change_threshold_severity_for_and_drop_disabled_rules() -> None:
    settings = parse_settings({"alerts": {"rules": {
        "high_cpu": {"threshold": 80, "severity": "critical", "for_seconds": 30, "channels": ["log"]},
        "disk_space": {"enabled": False},
        "large_loss": {"threshold": 0.25, "for_seconds": 1.5},
    }}}, env={})
    rules = {r["alert"]: r for r in builtin_prometheus_rules(settings)}
    assert "disk_space" not in rules and len(rules) == 13
    assert rules["high_cpu"]["expr"] == "graphwiz_system_cpu_usage_percent > 80"
    assert rules["high_cpu"]["labels"]["severity"] == "critical"
    assert rules["high_cpu"]["for"] == "30s"
    assert rules["high_cpu"]["annotations"]["channels"] == "log"
    assert "(threshold 80%)" in rules["high_cpu"]["annotations"]["description"]
    assert rules["large_loss"]["expr"] == "graphwiz_trading_current_drawdown > 0.25"
    assert rules["large_loss"]["for"] == "1500ms"
    assert "exceeds 25%" in rules["large_loss"]["annotations"]["description"]


def test_durations_and_the_meta_group() -> None:
    assert prometheus_duration(60) == "60s" and prometheus_duration(0.25) == "250ms"
    meta = prometheus_rule_file()["groups"][1]
    rules = {r["alert"]: r for r in meta["rules"]}
    assert list(rules) == ["graphwiz_exporter_down", "graphwiz_trader_records_refused", "graphwiz_trader_journal_filling",
                           "graphwiz_notification_outbox_stuck", "graphwiz_queue_backlog", "graphwiz_queue_unconsumed",
                           "graphwiz_exporter_redis_unreachable", "graphwiz_watchdog"]
    assert rules["graphwiz_exporter_down"]["expr"] == 'up{job=~"graphwiz.*"} == 0'
    assert rules["graphwiz_trader_records_refused"]["expr"] == "increase(graphwiz_trader_records_refused_total[5m]) > 0"
    assert rules["graphwiz_trader_journal_filling"]["expr"] == ("graphwiz_trader_journal_bytes / "
                                                     "graphwiz_trader_journal_max_bytes > 0.5")
    assert rules["graphwiz_notification_outbox_stuck"]["expr"] == "graphwiz_notify_outbox_entries > 0"
    assert rules["graphwiz_queue_backlog"]["expr"] == "graphwiz_celery_queue_length > 0"
    assert rules["graphwiz_queue_unconsumed"]["expr"] == ("graphwiz_celery_queue_length > 0 and "
                                                          "graphwiz_celery_queue_consumers == 0")
    assert {n: (r["labels"]["severity"], r.get("for")) for n, r in rules.items()} == {
        "graphwiz_exporter_down": ("critical", "60s"), "graphwiz_trader_records_refused": ("critical", None),
        "graphwiz_trader_journal_filling": ("warning", "300s"), "graphwiz_notification_outbox_stuck": ("warning", "120s"),
        "graphwiz_queue_backlog": ("warning", "300s"), "graphwiz_queue_unconsumed": ("critical", "60s"),
        "graphwiz_exporter_redis_unreachable": ("critical", "60s"), "graphwiz_watchdog": ("info", None)}
    assert rules["graphwiz_exporter_redis_unreachable"]["expr"] == "graphwiz_exporter_redis_up == 0"
    assert rules["graphwiz_watchdog"]["expr"] == "vector(1)"  # always firing: Alertmanager's Watchdog convention
    assert all(not problems(r["expr"]) for r in meta["rules"])


def test_the_queue_unconsumed_export_follows_its_overrides() -> None:
    """Exported in the meta group under its older name, it still takes alerts.rules.queue_unconsumed."""
    from graphwiz_monitoring.dashboards.prometheus_rules import meta_prometheus_rules

    name = EXPORTED_AS_META["queue_unconsumed"]
    changed = parse_settings({"alerts": {"rules": {"queue_unconsumed": {"severity": "warning", "for_seconds": 120}}}},
                             env={})
    [rule] = [r for r in meta_prometheus_rules(changed) if r["alert"] == name]
    assert rule["for"] == "120s" and rule["labels"]["severity"] == "warning"
    off = parse_settings({"alerts": {"rules": {"queue_unconsumed": {"enabled": False}}}}, env={})
    assert name not in [r["alert"] for r in meta_prometheus_rules(off)]
