"""Issue 13 item 4: one configuration decides who is told.

Real worker processes (notify queues + rules queue) configured by their monitoring.yaml with a
webhook and a Discord URL (loopback fakes) and a YAML rule ``bar_drawdown``; beside them a trader
created with the original description's Basic Usage dict (no notifications, no alerts section; only
the Redis URL added, as every example needs it). The trader's manual alert, its lambda rule's alert
and its ``check_alert`` of the YAML rule all arrive at the channels the workers' file configures.
"""

from __future__ import annotations

import threading

import pytest

from graphwiz_monitoring import tasks
from graphwiz_monitoring.alerting.models import AlertChannel, AlertSeverity
from graphwiz_monitoring.alerting.rules import AlertRule
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import NOTIFY_QUEUES
from graphwiz_monitoring.trader.monitor import create_monitor
from tests.conftest import free_port, wait_until
from tests.fakes.notify_fixtures import ALL_SECRETS, config_yaml, make_settings, notifications_config

pytestmark = pytest.mark.e2e

BAR_DRAWDOWN = {"condition": "trading.current_drawdown > 0.05", "severity": "critical",
                "channels": ["discord", "webhook"], "title": "Bar drawdown {drawdown_percent:.1f}%",
                "message": "Drawdown at {drawdown_percent:.1f}%"}


def _titles(discord_fake, webhook_receiver) -> tuple[list[str], list[str]]:
    return ([r.json["embeds"][0]["title"] for r in discord_fake.delivered()],
            [r.json["title"] for r in webhook_receiver.delivered()])


def test_trader_alerts_reach_the_channels_of_the_workers_configuration(celery_processes, redis_url, discord_fake,
                                                                       webhook_receiver) -> None:
    notifications = notifications_config(discord=discord_fake, webhook=webhook_receiver)
    worker = celery_processes("worker", "-Q", ",".join((*NOTIFY_QUEUES, "rules")), "-c", "2", "--loglevel", "INFO",
                              "--without-mingle", "--without-gossip",
                              config_extra=config_yaml(notifications, alerts={"custom_rules": {"bar_drawdown":
                                                                                               BAR_DRAWDOWN}}))
    workers_settings = make_settings(redis_url, notifications)
    store, keys = Store(redis_url), KeySpace(workers_settings.redis.namespace)

    config = {  # the description's Basic Usage; the Redis URL added, a free port, a short rule interval
        "monitoring": {"prometheus_port": free_port(), "enable_prometheus": True,
                       "rule_evaluation_interval_seconds": 0.1},
        "redis": {"url": redis_url},
    }
    monitor = create_monitor(config)
    try:
        # 1. The manual alert, as in the description (no channels: every channel the deployment has).
        manual = monitor.create_manual_alert(title="Custom Alert", message="Something happened",
                                             severity=AlertSeverity.WARNING)
        wait_until(lambda: "Custom Alert" in _titles(discord_fake, webhook_receiver)[0]
                   and "Custom Alert" in _titles(discord_fake, webhook_receiver)[1],
                   timeout=20, message="the manual alert at discord and the webhook")
        assert manual.alert_id in worker.output()  # the log channel too (every channel, log included)

        # 2. A trader-side lambda rule (the description's Advanced Usage), evaluated by the trader's loop.
        breach = threading.Event()
        monitor.alert_manager.custom_rules["custom_drawdown"] = AlertRule(
            name="custom_drawdown",
            condition=lambda m: m.get("trading", {}).get("current_drawdown", 0) > 0.05 or breach.is_set(),
            severity=AlertSeverity.WARNING, channels=[AlertChannel.DISCORD, AlertChannel.SLACK],
            title_template="Custom Drawdown Alert", message_template="Drawdown at {drawdown_percent}%",
            cooldown_seconds=600)
        breach.set()
        wait_until(lambda: "Custom Drawdown Alert" in _titles(discord_fake, webhook_receiver)[0], timeout=20,
                   message="the trader-side rule's alert at discord")
        # slack is asked for (by both alerts) but not configured in the deployment: suppressed, as discord
        # delivered them
        wait_until(lambda: store.r.hget(keys.notification_counts, "slack|suppressed") == "2", timeout=10,
                   message="slack counted as suppressed by the worker")

        # 3. A YAML rule of the workers' monitoring.yaml, check_alert-able from the trader once published.
        app_settings = make_settings(redis_url, {})
        from graphwiz_monitoring.celery import create_app

        create_app(app_settings).send_task(tasks.EVALUATE_RULES)
        wait_until(lambda: store.r.exists(keys.alerting_published), timeout=20,
                   message="the rules worker published its alerting configuration")
        alert = monitor.alert_manager.check_alert("bar_drawdown", {"trading": {"current_drawdown": 0.2,
                                                                                "drawdown_percent": 20.0}})
        assert alert is not None and alert.severity is AlertSeverity.CRITICAL
        wait_until(lambda: all("Bar drawdown 20.0%" in t for t in _titles(discord_fake, webhook_receiver)),
                   timeout=20, message="the YAML rule's alert at discord and the webhook")

        # 4. Channels the deployment has none of: never dropped silently (log channel + metric).
        lost = monitor.create_manual_alert("Nobody listens", "m", AlertSeverity.CRITICAL,
                                           channels=[AlertChannel.SLACK, AlertChannel.TELEGRAM])
        wait_until(lambda: store.r.hgetall(keys.notifications_undeliverable) == {"slack": "1", "telegram": "1"},
                   timeout=20, message="the undeliverable notifications counted")
        wait_until(lambda: worker.output().count(f"alert_id={lost.alert_id}") == 2, timeout=10,
                   message="the undeliverable notification in the worker's log")
        assert "undeliverable via slack" in worker.output()
    finally:
        monitor._stop_alerting()

    # Nobody judges the trader-side rule once its trader stops: its episode ends with one stale notice
    # (custom_rules.py; Discord markdown escapes its brackets), delivered at its own pace (asserting before
    # it came failed on a loaded host).
    wait_until(lambda: r"\[STALE\] Custom Drawdown Alert" in _titles(discord_fake, webhook_receiver)[0], timeout=20,
               message="the trader-side rule's stale notice at discord")
    discord, hook = _titles(discord_fake, webhook_receiver)
    assert sorted(discord) == ["Bar drawdown 20.0%", "Custom Alert", "Custom Drawdown Alert",
                               r"\[STALE\] Custom Drawdown Alert"]  # each once
    assert sorted(hook) == ["Bar drawdown 20.0%", "Custom Alert"]
    output = worker.output()
    assert not any(secret in output for secret in ALL_SECRETS)
    assert not any(secret in store.r.get(keys.alerting_published) for secret in ALL_SECRETS)
