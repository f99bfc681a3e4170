"""Escalation and ack: config parsing (errors name the field and value) and the pure decisions."""

from __future__ import annotations

import pytest

from graphwiz_monitoring.alerting import acks, escalation
from graphwiz_monitoring.alerting.models import Alert, AlertChannel, AlertSeverity
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import ConfigError
from graphwiz_monitoring.vocabulary import NOTIFICATION_KINDS, NotificationKind, escalated_kind, kind_base

STEPS = [{"after_seconds": 0, "channels": ["discord", "log"]}, {"after_seconds": 600, "channels": ["telegram", "email"]}]


def settings(alerts):
    return parse_settings({"alerts": alerts}, env={})


def test_severity_and_rule_steps_parse_and_the_rule_wins() -> None:
    own = [{"after_seconds": 5, "channels": "webhook"}]
    alerts = settings({"escalation": {"EMERGENCY": STEPS, "warning": own},
                       "rules": {"large_loss": {"escalation": own}},
                       "custom_rules": {"whale": {"condition": "trading.total_pnl < -1", "title": "t", "message": "m",
                                                  "escalation": own}}}).alerts
    emergency = escalation.steps_for(alerts, "risk_limit_breach", AlertSeverity.EMERGENCY)
    assert [s.after_seconds for s in emergency] == [0, 600]
    assert emergency[1].channels == ["telegram", "email"]
    assert escalation.steps_for(alerts, "large_loss", AlertSeverity.EMERGENCY)[0].channels == ["webhook"]
    assert escalation.steps_for(alerts, "whale", AlertSeverity.EMERGENCY)[0].after_seconds == 5
    assert escalation.steps_for(alerts, "high_cpu", AlertSeverity.CRITICAL) is None
    assert escalation.configured(settings({"escalation": {"info": own}}))
    assert not escalation.configured(settings({}))


@pytest.mark.parametrize(("steps", "where", "shown"), [
    ([{"after_seconds": -5, "channels": ["log"]}], "alerts.escalation.critical.0.after_seconds", "-5"),
    ([{"after_seconds": 1, "channels": ["pager"]}], "alerts.escalation.critical.0.channels", "pager"),
    ([{"after_seconds": 1, "channels": []}], "alerts.escalation.critical.0.channels", "[]"),
    ([{"after_seconds": 9, "channels": ["log"]}, {"after_seconds": 3, "channels": ["log"]}],
     "alerts.escalation.critical", "[9.0, 3.0]"),
    ([], "alerts.escalation.critical", "[]"),
    ([{"after_seconds": 1, "channel": ["log"]}], "alerts.escalation.critical.0.channel", "unknown key"),
    ([{"after_seconds": "soon", "channels": ["log"]}], "alerts.escalation.critical.0.after_seconds", "soon"),
])
def test_bad_steps_name_the_field_and_the_value(steps, where, shown) -> None:
    with pytest.raises(ConfigError) as caught:
        settings({"escalation": {"critical": steps}})
    assert where in str(caught.value) and shown in str(caught.value)


def test_unknown_severity_and_rule_step_errors_are_named() -> None:
    with pytest.raises(ConfigError, match="alerts.escalation.urgent"):
        settings({"escalation": {"urgent": STEPS}})
    with pytest.raises(ConfigError, match=r"alerts.rules.large_loss.escalation.0.after_seconds.*-1"):
        settings({"rules": {"large_loss": {"escalation": [{"after_seconds": -1, "channels": ["log"]}]}}})


def test_plan_sends_the_steps_at_zero_first_and_counts_the_rest() -> None:
    alerts = settings({"escalation": {"critical": STEPS}}).alerts
    plan = escalation.plan(alerts.escalation.critical)
    assert plan.first_destinations == ["discord", "log"] and plan.next_step == 2 and plan.argv() == ["0.0,600.0", "2"]
    late = escalation.plan(settings({"escalation": {"critical": STEPS[1:]}}).alerts.escalation.critical)
    assert late.first_destinations == [] and late.next_step == 1
    alert = Alert(rule_name="large_loss", title="t", message="m", severity=AlertSeverity.CRITICAL,
                  channels=[AlertChannel.WEBHOOK])
    assert escalation.start(alert, alerts) is not None
    assert alert.channels == [AlertChannel.DISCORD, AlertChannel.LOG] and len(alert.escalation) == 2
    assert escalation.step_destinations(alert, 2) == ["telegram", "email"]
    assert escalation.step_destinations(alert, 3) == [] and escalation.step_destinations(alert, 0) == []
    assert escalation.told(alert) == ["discord", "log"]  # step 2 not reached yet
    assert Alert.from_dict(alert.to_dict()).escalation == alert.escalation
    escalation.reach(alert, 2)
    assert alert.channels == [AlertChannel.DISCORD, AlertChannel.LOG, AlertChannel.TELEGRAM, AlertChannel.EMAIL]
    assert escalation.told(alert) == ["discord", "log", "telegram", "email"]
    assert Alert.from_dict(alert.to_dict()).escalation[1]["reached"] is True
    plain = Alert(rule_name="high_cpu", title="t", message="m", severity=AlertSeverity.WARNING)
    assert escalation.start(plain, alerts) is None and plain.escalation == [] and plain.channels == [AlertChannel.LOG]
    assert escalation.told(plain) is None  # routes decide


def test_steps_name_destinations_which_must_exist() -> None:
    named = {"telegram": {"destinations": {"oncall": {"bot_token": "1:x", "chat_id": "42"}}}}
    steps = [{"after_seconds": 0, "channels": ["log"]}, {"after_seconds": 60, "channels": ["Telegram:oncall"]}]
    alerts = parse_settings({"alerts": {"escalation": {"critical": steps}}, "notifications": named}, env={}).alerts
    assert alerts.escalation.critical[1].channels == ["telegram:oncall"]
    with pytest.raises(ConfigError, match=r"alerts.rules.large_loss.escalation\[1\].channels names 'telegram:nobody'"):
        parse_settings({"alerts": {"rules": {"large_loss": {"escalation": [
            {"after_seconds": 0, "channels": ["log"]}, {"after_seconds": 5, "channels": ["telegram:nobody"]}]}}},
            "notifications": named}, env={})
    with pytest.raises(ConfigError, match=r"alerts.escalation.critical.0.channels.*pager"):
        settings({"escalation": {"critical": [{"after_seconds": 0, "channels": ["pager"]}]}})


def test_escalated_kinds() -> None:
    assert escalated_kind(2) == "escalated-2" and kind_base("escalated-2") is NotificationKind.ESCALATED
    assert "escalated-1" in NOTIFICATION_KINDS and "escalated-0" not in NOTIFICATION_KINDS
    assert "escalated" not in NOTIFICATION_KINDS and escalation.step_of("escalated-12") == 12
    assert escalation.step_of("repeat-2") is None


def test_ack_inputs_and_the_acknowledged_property() -> None:
    assert acks.validate(" alice ", None, 60) == ("alice", None, 60.0)
    for bad_by in ("", "  ", None, 5, "x" * 201):
        with pytest.raises(ValueError, match="by:"):
            acks.validate(bad_by, None, None)
    for bad in (0, -1, float("inf"), float("nan"), True, "30m"):
        with pytest.raises(ValueError, match="for_seconds:"):
            acks.validate("alice", None, bad)
    alert = Alert(rule_name="r", title="t", message="m", severity=AlertSeverity.INFO)
    assert not alert.acknowledged and alert.to_dict()["acknowledged"] is False
    acks.apply(alert, acks.Ack(by="alice", at=1.0, comment="c", expires_at=None))
    assert alert.acknowledged and Alert.from_dict(alert.to_dict()).acknowledged_by == "alice"
    alert.ack_expires_at = 1.0  # ran out long ago
    assert not alert.acknowledged
    assert acks.parse({"by": "bob", "at": "2.5", "comment": "", "until": ""}) == acks.Ack("bob", 2.5, None, None)
    assert acks.parse({}) is None and acks.parse({"by": "bob", "at": "x"}) is None


def test_status_shows_who_acknowledged() -> None:
    from graphwiz_monitoring.cli.status_view import render_status

    alert = Alert(rule_name="large_loss", title="Large loss", message="m", severity=AlertSeverity.CRITICAL)
    plain = Alert(rule_name="high_cpu", title="CPU", message="m", severity=AlertSeverity.WARNING)
    acks.apply(alert, acks.Ack(by="alice", at=1.0))
    text = render_status({"alerts": [alert.to_dict(), plain.to_dict()], "queues": {}, "dead_letters": 0,
                          "trading": {"paused": False}, "breakers": {}, "generated_at": 0})
    lines = text.splitlines()
    title = next(i for i, line in enumerate(lines) if "Large loss" in line)
    assert "acknowledged by alice" in lines[title + 1]  # under its title
    assert sum("acknowledged by" in line for line in lines) == 1  # the other alert has no ack
