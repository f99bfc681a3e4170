"""Silence matching, time parsing and inhibition (pure parts; Redis storage is in integration)."""

from __future__ import annotations

import pytest

from graphwiz_monitoring.alerting.silences import (
    Silence,
    alert_labels,
    config_silences,
    inhibited,
    muting_silence,
    parse_duration,
    parse_time,
)
from graphwiz_monitoring.config import InhibitSettings, parse_settings
from graphwiz_monitoring.errors import RuleError


def test_parse_time_and_duration() -> None:
    assert parse_time("2026-01-01T00:00:00Z") == 1767225600.0
    assert parse_time("2026-01-01T01:00:00+01:00") == 1767225600.0
    assert parse_time("2026-01-01T00:00:00") == 1767225600.0  # naive is UTC
    assert parse_time("now", now=5.0) == 5.0 and parse_time(12) == 12.0
    assert [parse_duration(d) for d in ("90", "90s", "15m", "2h", "1d", "1w", "1.5h")] == \
        [90, 90, 900, 7200, 86400, 604800, 5400]
    for bad in ("soon", "", None, float("inf")):
        with pytest.raises(RuleError):
            parse_time(bad)
    for bad in ("0", "-1h", "2y", "h"):
        with pytest.raises(RuleError):
            parse_duration(bad)


def test_silence_matching_by_rule_label_severity_with_patterns() -> None:
    labels = alert_labels("high_latency", "warning", {"exchange": "binance-us"})
    window = dict(starts_at=100.0, ends_at=200.0)
    assert Silence({"rule": "high_latency"}, **window).mutes(labels)
    assert Silence({"alertname": "high_*", "exchange": "binance*"}, **window).mutes(labels)
    assert Silence({"severity": "warning"}, **window).mutes(labels)
    assert not Silence({"severity": "critical"}, **window).mutes(labels)
    assert not Silence({"rule": "high_latency", "exchange": "kraken"}, **window).mutes(labels)
    assert not Silence({"team": "x"}, **window).mutes(labels)  # absent label never matches a value
    silences = [Silence({"rule": "high_latency"}, **window)]
    assert muting_silence(silences, labels, 150) is silences[0]
    assert muting_silence(silences, labels, 99) is None and muting_silence(silences, labels, 200) is None


def test_config_silences_have_stable_ids() -> None:
    data = {"alerts": {"silences": [{"matchers": {"rule": "disk_space"}, "ends_at": "2030-01-01T00:00:00Z",
                                     "reason": "migration"}]}}
    a = config_silences(parse_settings(data, env={}))
    b = config_silences(parse_settings(data, env={}))
    assert a[0].id == b[0].id and a[0].id.startswith("cfg-") and a[0].source == "config"
    assert a[0].starts_at == 0 and a[0].active(1.8e9)


def test_default_inhibition_mutes_latency_and_rate_limit_for_the_same_exchange_only() -> None:
    rules = parse_settings({}, env={}).alerts.inhibit
    source = ("exchange_disconnect|fp1", alert_labels("exchange_disconnect", "critical", {"exchange": "binance"}))
    for target_rule in ("high_latency", "rate_limit"):
        assert inhibited(alert_labels(target_rule, "warning", {"exchange": "binance"}), [source], rules)
        assert not inhibited(alert_labels(target_rule, "warning", {"exchange": "kraken"}), [source], rules)
    assert not inhibited(alert_labels("high_cpu", "warning", {"host": "h"}), [source], rules)
    assert not inhibited(alert_labels("exchange_disconnect", "critical", {"exchange": "binance"}), [source], rules,
                         self_key="exchange_disconnect|fp1")
    assert not inhibited(alert_labels("high_latency", "warning", {"exchange": "binance"}), [], rules)


def test_configurable_inhibition_by_label_matchers() -> None:
    rules = [InhibitSettings(source={"severity": "emergency"}, target={"severity": "warning"}, equal=[])]
    src = ("r|1", alert_labels("risk_limit_breach", "emergency", {}))
    assert inhibited(alert_labels("high_cpu", "warning", {"host": "h"}), [src], rules)
    assert not inhibited(alert_labels("large_loss", "critical", {}), [src], rules)
