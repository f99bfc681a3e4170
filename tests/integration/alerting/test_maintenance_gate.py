"""Maintenance windows against a real Redis (alerting/maintenance.py) and the scheduled digest
(health/digest.py): an alert in an open window is active and marked, nothing is handed to a channel;
the digest due is sent exactly once however many processes look for it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from graphwiz_monitoring.alerting.maintenance import in_maintenance
from graphwiz_monitoring.alerting.manager import get_active_alerts
from graphwiz_monitoring.alerting.outbox import pending
from graphwiz_monitoring.health.digest import send_due_digest
from graphwiz_monitoring.metrics.ingest import ingest_batch
from tests.integration.alerting.test_alert_lifecycle import LOSS, WEBHOOK, loss_rules


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")


def _window(store, starts: float, ends: float, **matchers: str) -> dict:
    now = store.now()
    return {"starts_at": _iso(now + starts), "ends_at": _iso(now + ends), "matchers": matchers}


def test_an_alert_in_an_open_window_is_active_marked_and_not_notified(make_manager, store, keys) -> None:
    alerts = {**loss_rules(), "cooldowns": {"critical": 1}, "maintenance": {"upgrade": _window(store, -60, 600)}}
    manager, sent = make_manager(alerts, WEBHOOK)
    created = manager.evaluate(LOSS).created
    assert len(created) == 1
    [active] = get_active_alerts(store, keys)
    assert active.alert_id == created[0].alert_id and in_maintenance(active) == "upgrade"
    assert sent.calls == [] and pending(store, keys) == []  # nothing handed over, nothing owed
    assert int(store.r.hget(keys.notification_counts, "webhook|maintenance")) == 1
    # the repeat due one cooldown later is held too
    time.sleep(1.1)
    assert manager.evaluate(LOSS).repeated == [active.alert_id]
    assert sent.calls == [] and pending(store, keys) == []


def test_a_window_covers_only_the_alerts_its_matchers_name(make_manager, store, keys) -> None:
    alerts = {**loss_rules(), "maintenance": {"binance": _window(store, -60, 600, exchange="binance")}}
    manager, sent = make_manager(alerts, WEBHOOK)
    [alert] = manager.evaluate(LOSS).created
    assert sorted(c for _, c in sent.of("firing")) == ["log", "webhook"]
    assert in_maintenance(get_active_alerts(store, keys)[0]) is None
    assert alert.alert_id


def test_a_window_not_open_yet_holds_nothing_and_manual_alerts_are_never_held(make_manager, store, keys) -> None:
    later = {**loss_rules(), "maintenance": {"later": _window(store, 300, 600)}}
    manager, sent = make_manager(later, WEBHOOK)
    assert len(manager.evaluate(LOSS).created) == 1 and sent.of("firing")
    store.r.flushdb()
    everything = {**loss_rules(), "maintenance": {"now": _window(store, -60, 600)}}
    manager, sent = make_manager(everything, WEBHOOK)
    manager.create_manual_alert("test", "asked for", channels=["webhook"])
    assert [c for _, c in sent.of("firing")] == ["webhook"]


def test_the_digest_due_is_sent_once_across_processes_with_the_periods_facts(make_manager, store, keys,
                                                                              settings) -> None:
    digest = {"cron": "* * * * *", "channels": ["webhook", "log"]}
    first, sent_first = make_manager({**loss_rules(), "digest": digest}, WEBHOOK)
    second, sent_second = make_manager({**loss_rules(), "digest": digest}, WEBHOOK)
    trades = [{"kind": "trade", "data": {"trade_id": f"t{i}", "symbol": "BTC/USDT", "side": "buy",
                                         "quantity": 1, "price": 100, "pnl": pnl, "exchange": "binance"}}
              for i, pnl in enumerate([50.0, -20.0, 30.0])]
    assert not ingest_batch(store, keys, first.settings, {"batch_id": "b1", "records": trades}).rejected
    [breach] = first.evaluate(LOSS).created
    first.acknowledge_alert(breach.alert_id, "alice", comment="on it")
    sent = [m for m in (send_due_digest(first), send_due_digest(second), send_due_digest(first)) if m is not None]
    assert len(sent) == 1  # one claim per due time, whoever looks
    [digest_alert] = sent
    assert digest_alert.rule_name == "digest"
    handed = sent_first.of("firing") + sent_second.of("firing")
    assert sorted(c for a, c in handed if a == digest_alert.alert_id) == ["log", "webhook"]
    text = digest_alert.message
    assert "P&L: period +$60.00 (3 trades)" in text and "7 days +$60.00" in text
    assert "Win rate: period 66.7 %" in text
    assert f"CRITICAL {breach.title}" in text and "still firing, acknowledged by alice" in text
    assert "Recovery actions: none" in text and "Trading: running" in text
    # the digest is no alert of the next period, and never an episode
    assert all(a.rule_name != "digest" for a in get_active_alerts(store, keys))


def test_a_traders_alerts_follow_the_deployments_published_windows(make_manager, store, keys) -> None:
    """One configuration decides who is told: a trader (no deployment configuration of its own) holds what
    the workers' published windows hold, as it follows their published routes."""
    from graphwiz_monitoring.alerting.published import publish

    worker, _ = make_manager({**loss_rules(), "maintenance": {"upgrade": _window(store, -60, 600)}}, WEBHOOK)
    publish(store, keys, worker.settings)
    trader, sent = make_manager(loss_rules(), WEBHOOK)
    trader.notifier.deployment_config = False  # as TradingMonitor sets it
    assert len(trader.evaluate(LOSS).created) == 1
    assert sent.calls == [] and pending(store, keys) == []
    assert in_maintenance(get_active_alerts(store, keys)[0]) == "upgrade"
