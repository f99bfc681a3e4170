"""The trader side: monitor.alert_manager.custom_rules evaluated in-process, manual alerts, reads."""

from __future__ import annotations

import redis

from graphwiz_monitoring import AlertChannel, AlertRule, AlertSeverity, create_monitor
from graphwiz_monitoring.metrics.ingest import ingest_batch
from tests.conftest import wait_until
from tests.fakes.queues import queued_messages


def test_custom_rules_run_in_the_trader_through_the_shared_lifecycle(redis_url, store, keys) -> None:
    monitor = create_monitor({"redis": {"url": redis_url}, "monitoring": {"rule_evaluation_interval_seconds": 0.1}})
    client = redis.Redis.from_url(redis_url)
    try:
        ingest_batch(store, keys, monitor.settings, {"batch_id": "b1", "records": [
            {"kind": "exchange_status", "data": {"exchange": "binance", "connected": True,
                                                 "rate_limit_remaining": 40.0}}]})
        monitor.alert_manager.custom_rules["low_budget"] = AlertRule(
            name="low_budget",
            condition=lambda m: [{"exchange": name} for name, ex in m["exchanges"].items()
                                 if (ex.get("rate_limit_remaining") or 1e9) < 50],
            severity=AlertSeverity.WARNING, channels=[AlertChannel.LOG],
            title_template="Budget low on {exchange}", message_template="{rate_limit_remaining:g} left",
            cooldown_seconds=600)
        alerts = wait_until(monitor.get_active_alerts, timeout=10, message="custom rule alert")
        assert [(a.rule_name, a.labels, a.message) for a in alerts] == [
            ("low_budget", {"exchange": "binance"}, "40 left")]
        wait_until(lambda: queued_messages(client, "notify.log"), timeout=10, message="notify task")
        assert [m["args"] for m in queued_messages(client, "notify.log")] == [[alerts[0].alert_id, "log", "firing"]]

        manual = monitor.create_manual_alert(title="Custom Alert", message="Something happened",
                                             severity=AlertSeverity.WARNING)
        assert manual.rule_name == "manual"
        wait_until(lambda: len(queued_messages(client, "notify.log")) == 2, timeout=10, message="manual task")
        assert [a.alert_id for a in monitor.get_alert_history(hours=1, severity="warning")] == \
            [manual.alert_id, alerts[0].alert_id]

        ingest_batch(store, keys, monitor.settings, {"batch_id": "b2", "records": [
            {"kind": "exchange_status", "data": {"exchange": "binance", "connected": True,
                                                 "rate_limit_remaining": 900.0}}]})
        wait_until(lambda: monitor.get_active_alerts() == [], timeout=10, message="resolution")
    finally:
        monitor._stop_alerting()


def test_a_stopping_trader_ends_its_custom_rule_episodes_as_stale(redis_url, store, keys) -> None:
    """Issue 13 item 3: once the trader stops nobody judges its custom rules; their open episodes end as
    ``stale`` with one notice instead of staying active on its last values."""
    monitor = create_monitor({"redis": {"url": redis_url}, "monitoring": {"rule_evaluation_interval_seconds": 0.1}})
    client = redis.Redis.from_url(redis_url)
    try:
        monitor.alert_manager.custom_rules["always"] = AlertRule(
            name="always", condition=lambda m: True, severity=AlertSeverity.WARNING, channels=[AlertChannel.LOG],
            cooldown_seconds=600)
        (alert,) = wait_until(monitor.get_active_alerts, timeout=10, message="custom rule alert")
    finally:
        monitor._stop_alerting()  # what ``await monitor.stop()`` does first
    assert monitor.get_active_alerts() == []
    (record,) = [a for a in monitor.get_alert_history(hours=1) if a.alert_id == alert.alert_id]
    assert record.state.value == "stale"
    wait_until(lambda: len(queued_messages(client, "notify.log")) == 2, timeout=10, message="stale notice task")
    assert sorted(m["args"] for m in queued_messages(client, "notify.log")) == [
        [alert.alert_id, "log", "firing"], [alert.alert_id, "log", "stale"]]
