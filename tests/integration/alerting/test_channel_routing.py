"""Issue 13 item 4: the deployment's configuration decides who is told (real Redis, in-process).

A process that creates an alert hands one task per channel the alert asks for, whatever its own
configuration says; the notify worker's configuration decides (send / suppressed / undeliverable:
log channel + graphwiz_notifications_undeliverable_total). YAML rules the rule workers publish are
check_alert-able from a process that does not have them in its configuration.
"""

from __future__ import annotations

import json
import logging

import pytest

from graphwiz_monitoring.alerting import published
from graphwiz_monitoring.alerting.delivery import (
    DUPLICATE,
    SENT,
    SUPPRESSED,
    UNDELIVERABLE,
    deliver_notification,
    read_undeliverable_counts,
)
from graphwiz_monitoring.alerting.models import AlertChannel, AlertSeverity
from graphwiz_monitoring.alerting.rules import AlertRule
from graphwiz_monitoring.errors import RuleError
from graphwiz_monitoring.tasks import NOTIFY_DELIVER
from graphwiz_monitoring.trader.monitor import create_monitor
from tests.fakes.notify_fixtures import make_settings, notifications_config, put_alert
from tests.integration.alerting.test_alert_export import scrape

ASKED = [AlertChannel.DISCORD, AlertChannel.SLACK, AlertChannel.TELEGRAM, AlertChannel.EMAIL]
BAR_DRAWDOWN = {"condition": "trading.current_drawdown > 0.05", "severity": "critical",
                "channels": ["discord", "webhook"], "title": "Bar drawdown {drawdown_percent:.1f}%",
                "message": "Drawdown at {drawdown_percent:.1f}%"}
LOSS = {"trading": {"current_drawdown": 0.2, "drawdown_percent": 20.0}}


class RecordingSender:
    """A TaskSender that records the deliver tasks (alert_id, channel, kind) instead of enqueuing them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def send(self, task, args=(), *, retry=False, max_age_seconds=None, **options) -> None:
        assert task == NOTIFY_DELIVER
        self.calls.append(tuple(args))

    def of(self, alert_id: str, kind: str = "firing") -> list[str]:
        return sorted(c for a, c, k in self.calls if a == alert_id and k == kind)


def test_the_trader_hands_every_asked_channel_to_the_workers(redis_url) -> None:
    """Before: a trader from the description's dict (no ``notifications``) handed over nothing but log."""
    sender = RecordingSender()
    monitor = create_monitor({"monitoring": {"prometheus_port": 8000, "enable_prometheus": True},
                              "redis": {"url": redis_url}}, task_sender=sender)
    alert = monitor.create_manual_alert("Custom Alert", "Something happened", AlertSeverity.WARNING, channels=ASKED)
    assert sender.of(alert.alert_id) == sorted(c.value for c in ASKED)
    default = monitor.create_manual_alert("Custom Alert", "Something happened", AlertSeverity.WARNING)
    assert sender.of(default.alert_id) == sorted(c.value for c in AlertChannel)  # "every active one": the workers'

    manager = monitor.alert_manager
    assert monitor.health_checker.alert_manager is manager  # the trader's health alerts are handed over alike
    manager.custom_rules["custom_drawdown"] = AlertRule(
        name="custom_drawdown", condition=lambda m: m.get("trading", {}).get("current_drawdown", 0) > 0.05,
        severity=AlertSeverity.WARNING, channels=[AlertChannel.DISCORD, AlertChannel.SLACK],
        title_template="Custom Drawdown Alert", message_template="Drawdown at {drawdown_percent}%")
    monitor._stop_alerting()  # evaluated below, not by the background loop
    created = manager.evaluate_custom(LOSS).created
    assert len(created) == 1 and sender.of(created[0].alert_id) == ["discord", "slack"]
    manager.evaluate_custom({"trading": {"current_drawdown": 0.0}})
    # send_resolved is the deployment's decision too: the resolved notice is handed to both.
    assert sender.of(created[0].alert_id, "resolved") == ["discord", "slack"]


def test_a_worker_skips_channels_its_configuration_would_not_send_to_unless_none_is_active(make_manager) -> None:
    """Workers run with the deployment's configuration: fewer tasks, same outcome; never none at all."""
    manager, sent = make_manager(notifications={"webhook": {"url": "http://127.0.0.1:9/hook"}})
    alert = manager.create_manual_alert("t", "m", channels=[AlertChannel.DISCORD, AlertChannel.WEBHOOK])
    assert [c for a, c in sent.of("firing") if a == alert.alert_id] == ["webhook"]
    lost = manager.create_manual_alert("t", "m", channels=[AlertChannel.DISCORD, AlertChannel.SLACK])
    assert sorted(c for a, c in sent.of("firing") if a == lost.alert_id) == ["discord", "slack"]  # -> undeliverable


def test_a_notification_no_channel_can_deliver_goes_to_the_log_and_counts(store, keys, redis_url, caplog) -> None:
    settings = make_settings(redis_url, {"log": {"level": "INFO", "enabled": False}})
    alert = put_alert(store, keys, title="Nobody configured", channels=[AlertChannel.DISCORD, AlertChannel.EMAIL])
    with caplog.at_level(logging.INFO, logger="graphwiz_monitoring.alerts"):
        results = [deliver_notification(store, keys, settings, alert.alert_id, c) for c in ("discord", "email")]
    assert [r.outcome for r in results] == [UNDELIVERABLE, UNDELIVERABLE]
    notices = [r for r in caplog.records if r.name == "graphwiz_monitoring.alerts"]
    assert [r.levelno for r in notices] == [logging.WARNING, logging.WARNING]  # even with the log channel off
    assert "undeliverable via discord" in notices[0].getMessage() and "Nobody configured" in notices[0].getMessage()
    again = deliver_notification(store, keys, settings, alert.alert_id, "discord")  # a redelivered task
    assert again.outcome == DUPLICATE
    assert read_undeliverable_counts(store, keys) == {"discord": 1, "email": 1}
    samples = scrape(store, keys)
    assert samples[("graphwiz_notifications_undeliverable_total", (("channel", "discord"),))] == 1
    assert samples[("graphwiz_notifications_undeliverable_total", (("channel", "email"),))] == 1


def test_a_channel_the_deployment_lacks_is_suppressed_when_another_delivers(store, keys, redis_url,
                                                                           webhook_receiver) -> None:
    config = notifications_config(webhook=webhook_receiver)
    config["webhook"]["send_resolved"] = False
    settings = make_settings(redis_url, config)
    alert = put_alert(store, keys, channels=[AlertChannel.DISCORD, AlertChannel.WEBHOOK])
    assert deliver_notification(store, keys, settings, alert.alert_id, "discord").outcome == SUPPRESSED
    assert deliver_notification(store, keys, settings, alert.alert_id, "webhook").outcome == SENT
    # Resolved notices off on the only configured channel: the deployment's deliberate choice, not a loss.
    assert deliver_notification(store, keys, settings, alert.alert_id, "webhook", "resolved").outcome == SUPPRESSED
    assert read_undeliverable_counts(store, keys) == {}
    assert store.r.hget(keys.notification_counts, "discord|suppressed") == "1"
    assert len(webhook_receiver.delivered()) == 1


def test_yaml_rules_published_by_the_workers_are_check_alertable(make_manager, store, keys, redis_url) -> None:
    worker_settings = make_settings(
        redis_url, {"discord": {"webhook_url": "https://discord.example/api/webhooks/1/SECRET-discord-token"}},
        alerts={"custom_rules": {"bar_drawdown": BAR_DRAWDOWN}, "rules": {"large_loss": {"threshold": 0.5}}})
    trader, sent = make_manager()  # the description's dict: no alerts, no notifications
    with pytest.raises(RuleError, match="unknown alert rule 'bar_drawdown'"):
        trader.check_alert("bar_drawdown", LOSS)  # nothing published yet

    published.publish(store, keys, worker_settings)
    raw = store.r.get(keys.alerting_published)
    assert "SECRET" not in raw and "discord.example" not in raw  # never a URL or token
    assert json.loads(raw)["custom_rules"]["bar_drawdown"]["condition"] == BAR_DRAWDOWN["condition"]

    alert = trader.check_alert("bar_drawdown", LOSS)
    assert alert is not None and alert.title == "Bar drawdown 20.0%" and alert.severity is AlertSeverity.CRITICAL
    assert sorted(c for a, c in sent.of("firing") if a == alert.alert_id) == ["discord", "webhook"]
    assert trader.check_alert("large_loss", LOSS) is None  # the deployment's override: threshold 0.5
    with pytest.raises(RuleError, match="unknown alert rule 'nope'"):
        trader.check_alert("nope", LOSS)

    # The trader's own rules come first: its Python rule, then its own YAML definition.
    mine = AlertRule(name="bar_drawdown", condition=lambda m: True, title_template="Mine", message_template="mine")
    trader.custom_rules["bar_drawdown"] = mine
    assert _rule(trader, "bar_drawdown") is mine
    own, _ = make_manager(alerts={"rules": {"large_loss": {"threshold": 0.1}}})
    assert _rule(own, "large_loss").threshold == 0.1 and _rule(trader, "large_loss").threshold == 0.5
    assert own.check_alert("large_loss", LOSS) is not None


def _rule(manager, name: str) -> AlertRule:
    return published.rule_for(name, local=manager.custom_rules, registry=manager.registry,
                              settings=manager.settings, store=manager.store, keys=manager.keys)
