"""alerts.routes: ordered matchers -> destinations with `continue`; named destinations inherit their section."""

from __future__ import annotations

import pytest

from graphwiz_monitoring.alerting.models import Alert, AlertChannel, AlertSeverity
from graphwiz_monitoring.alerting.routing import channel_of, destinations, routed, rule_route
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import ConfigError

NOTIFICATIONS = {"telegram": {"bot_token": "123:SECRETtoken99", "chat_id": "-1", "rate_limit": {"count": 5, "per_seconds": 1},
                              "destinations": {"ops": {"chat_id": "-2"}, "desk": {"chat_id": "-3", "enabled": False}}},
                 "webhook": {"url": "http://a.example/h", "destinations": {"pager": {"url": "http://b.example/p"}}}}
ROUTES = [{"match": {"severity": ["critical", "emergency"]}, "destinations": ["telegram:ops", "webhook:pager"],
           "continue": True},
          {"match": {"rule": "exchange_*", "exchange": "bin*"}, "destinations": ["Telegram"]},
          {"match": {"rule": "exchange_*"}, "destinations": ["discord", "telegram:ops"]}]


@pytest.fixture(scope="module")
def settings():
    return parse_settings({"notifications": NOTIFICATIONS, "alerts": {"routes": ROUTES}}, env={})


def _alert(rule: str, severity: AlertSeverity, **labels: str) -> Alert:
    return Alert(rule_name=rule, title="t", message="m", severity=severity, labels=labels,
                 channels=[AlertChannel.SLACK, AlertChannel.LOG])


def test_first_match_wins_unless_continue(settings) -> None:
    alerts = settings.alerts
    assert destinations(_alert("exchange_disconnect", AlertSeverity.CRITICAL, exchange="binance"), alerts) == [
        "telegram:ops", "webhook:pager", "telegram"]  # route 1 continues, route 2 ends it: route 3 not reached
    assert destinations(_alert("exchange_disconnect", AlertSeverity.CRITICAL, exchange="kraken"), alerts) == [
        "telegram:ops", "webhook:pager", "discord"]  # route 2 does not match; route 3 adds discord only once each
    assert destinations(_alert("exchange_disconnect", AlertSeverity.WARNING, exchange="kraken"), alerts) == [
        "discord", "telegram:ops"]
    assert destinations(_alert("large_loss", AlertSeverity.EMERGENCY), alerts) == ["telegram:ops", "webhook:pager"]


def test_no_route_keeps_the_rules_channels_and_explicit_names_win(settings) -> None:
    alert = _alert("high_cpu", AlertSeverity.WARNING, host="h1")
    assert routed(settings.alerts.routes, {"rule": "high_cpu", "severity": "warning"}) is None
    assert destinations(alert, settings.alerts) == ["slack", "log"]
    assert destinations(alert, settings.alerts, asked=["Telegram:ops", "log", "log"]) == ["telegram:ops", "log"]


def test_named_destinations_inherit_their_section(settings) -> None:
    n = settings.notifications
    ops = n.destination("telegram:ops")
    assert ops.chat_id == "-2" and ops.bot_token.get_secret_value() == "123:SECRETtoken99"
    assert ops.rate_limit.count == 5 and ops.active and not n.destination("telegram:desk").active
    assert n.destination("telegram") is n.telegram and n.destination("webhook:pager").url.get_secret_value() == \
        "http://b.example/p"
    assert channel_of("webhook:pager") is AlertChannel.WEBHOOK
    with pytest.raises(ValueError, match="unknown destination telegram:nope"):
        n.destination("telegram:nope")
    assert "SECRETtoken99" not in str(settings.masked())


@pytest.mark.parametrize(("section", "expected"), [
    ({"alerts": {"routes": [{"destinations": ["pager"]}]}}, "unknown channel"),
    ({"alerts": {"routes": [{"destinations": []}]}}, "alerts.routes.0.destinations"),
    ({"alerts": {"routes": [{"destinations": ["webhook:pager"]}]}}, "names 'webhook:pager'"),
    ({"alerts": {"routes": [{"match": {"severity": {"a": 1}}, "destinations": ["log"]}]}}, "label 'severity'"),
    ({"alerts": {"group_by": [""]}}, "alerts.group_by"),
    ({"alerts": {"group_interval_seconds": -1}}, "alerts.group_interval_seconds"),
    ({"notifications": {"webhook": {"destinations": {"Bad Name": {"url": "http://x"}}}}}, "'Bad Name'"),
    ({"notifications": {"webhook": {"destinations": {"a": {"nope": 1}}}}}, "nope"),
])
def test_bad_routing_config_names_the_field_and_value(section, expected) -> None:
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace("(", r"\(")):
        parse_settings(section, env={})


def test_rule_route_for_check_config(settings) -> None:
    route = rule_route("exchange_disconnect", AlertSeverity.CRITICAL, [AlertChannel.DISCORD], settings.alerts.routes)
    assert route.destinations == ["telegram:ops", "webhook:pager", "discord"] and route.via == "routes 1, 3"
    assert route.depends == ["route 2 when exchange=bin*: telegram (instead of the routes after it)"]
    plain = rule_route("high_cpu", AlertSeverity.WARNING, [AlertChannel.DISCORD, AlertChannel.LOG],
                       settings.alerts.routes)
    assert plain.destinations == ["discord", "log"] and plain.via == "the rule's channels" and plain.depends == []


def test_a_named_destinations_task_goes_to_its_types_queue() -> None:
    from graphwiz_monitoring import tasks
    from graphwiz_monitoring.celery.routing import route_task

    assert route_task(tasks.NOTIFY_DELIVER, ("id", "telegram:ops", "firing"), {}, {}) == {"queue": "notify.telegram"}
    assert route_task(tasks.NOTIFY_DELIVER, ("id", "webhook", "firing"), {}, {}) == {"queue": "notify.webhook"}
    assert route_task(tasks.FLUSH_GROUP, ("g", "1"), {}, {}) == {"queue": "rules"}
    with pytest.raises(ValueError, match="unknown notification channel"):
        route_task(tasks.NOTIFY_DELIVER, ("id", "pager:ops", "firing"), {}, {})
