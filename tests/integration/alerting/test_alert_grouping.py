"""Storm grouping against a real Redis: the lead at once, one grouped message per destination after the
window, nothing lost when the process holding the storm dies, delivered once (alerting/grouping.py)."""

from __future__ import annotations

import json
import time

import pytest

from graphwiz_monitoring.alerting import grouping, published
from graphwiz_monitoring.alerting.delivery import deliver_notification
from graphwiz_monitoring.alerting.models import Alert, AlertChannel, AlertSeverity
from graphwiz_monitoring.alerting.notifier import Notifier, sweep
from graphwiz_monitoring.alerting.outbox import pending, started
from graphwiz_monitoring.config import parse_settings
from tests.fakes.notify_fixtures import WEBHOOK_SECRET

INTERVAL = 0.3
EXCHANGES = [f"ex{i:02d}" for i in range(20)]
STORM = {"exchanges": {ex: {"connected": False} for ex in EXCHANGES}}


def only_disconnects(**extra) -> dict:
    others = ("high_cpu", "high_memory", "high_latency", "rate_limit", "neo4j_disconnect", "large_loss",
              "agent_failure", "risk_limit_breach", "disk_space", "trader_down")
    return {"rules": {**{n: {"enabled": False} for n in others},
                      "exchange_disconnect": {"channels": ["webhook", "log"]}},
            "group_interval_seconds": INTERVAL, **extra}


def test_storm_lead_at_once_rest_as_one_message_per_destination(make_manager, store, keys, webhook_receiver) -> None:
    notifications = {"webhook": {"url": webhook_receiver.url, "secret": WEBHOOK_SECRET, "rate_limit": None}}
    manager, sent = make_manager(only_disconnects(), notifications)
    created = manager.evaluate(STORM).created
    assert len(created) == 20
    lead = created[0].alert_id
    assert sorted(sent.calls) == sorted([(lead, "webhook", "firing"), (lead, "log", "firing")])  # no group_wait
    assert pending(store, keys) == []  # the held 19 left the outbox with their admission: the due window owes them
    assert grouping.pending_windows(store, keys) == 1
    assert sweep(manager, grace_seconds=0).grouped == 0  # the window is still open
    time.sleep(INTERVAL + 0.05)
    assert sweep(manager, grace_seconds=0).grouped == 1  # no task sender here: the sweep hands it over
    groups = [c for c in sent.calls if grouping.is_message_id(c[0])]
    assert sorted(c[1] for c in groups) == ["log", "webhook"] and len(sent.calls) == 4
    message = groups[0][0]
    assert sorted(a for a, _ in grouping.members_for(store, keys, message, "webhook")) == sorted(
        a.alert_id for a in created[1:])
    assert grouping.pending_windows(store, keys) == 0 and sweep(manager, grace_seconds=0).grouped == 0

    settings = manager.settings
    assert deliver_notification(store, keys, settings, message, "webhook", "firing").outcome == "sent"
    assert deliver_notification(store, keys, settings, message, "webhook", "firing").outcome == "duplicate"
    (request,) = webhook_receiver.delivered()
    body = request.json
    assert body["group"] is True and body["count"] == 19
    assert [a["labels"]["exchange"] for a in body["alerts"]] == EXCHANGES[1:]  # in the order they started
    assert store.r.hget(keys.notification_counts, "webhook|sent") == "1"


class DiesOnGroup:
    """A dispatcher whose broker fails at the first grouped message handed over; records the rest (their tasks
    start: none is lost by the broker)."""

    def __init__(self, store, keys) -> None:
        self.store, self.keys = store, keys
        self.calls: list[tuple[str, str, str]] = []
        self.died = False

    def __call__(self, alert_id: str, channel: str, kind: str) -> None:
        if grouping.is_message_id(alert_id) and not self.died:
            self.died = True
            raise BrokenPipeError("broker gone")
        self.calls.append((alert_id, channel, kind))
        started(self.store, self.keys, alert_id, kind, channel)


def test_a_flush_that_fails_is_claimed_again_after_its_lease(make_manager, store, keys, monkeypatch) -> None:
    monkeypatch.setattr(grouping, "FLUSH_LEASE_SECONDS", 0.2)
    dispatch = DiesOnGroup(store, keys)
    manager, _ = make_manager(only_disconnects(), {"webhook": {"url": "http://127.0.0.1:9/h"}}, dispatch=dispatch)
    manager.evaluate(STORM)
    time.sleep(INTERVAL + 0.05)
    first = sweep(manager, grace_seconds=0)
    assert first.failed == 1 and grouping.pending_windows(store, keys) == 1  # still owed
    assert sweep(manager, grace_seconds=0).grouped == 0  # leased: nobody else takes it meanwhile
    time.sleep(0.25)
    assert sweep(manager, grace_seconds=0).grouped == 1
    groups = [c[1] for c in dispatch.calls if grouping.is_message_id(c[0])]
    # log went out at the first try and again with the retry (delivery is idempotent per message: sent once)
    assert sorted(groups) == ["log", "log", "webhook"] and grouping.pending_windows(store, keys) == 0


def test_group_by_labels_and_explicit_destinations(make_manager, store, keys) -> None:
    manager, sent = make_manager(only_disconnects(group_by=["rule", "exchange"]), {"webhook": {"url": "http://x/h"}})
    assert len(manager.evaluate(STORM).created) == 20
    assert len({a for a, _, _ in sent.calls}) == 20  # one group per exchange: each is its group's lead
    alert = Alert(rule_name="exchange_disconnect", title="t", message="m", severity=AlertSeverity.CRITICAL,
                  labels={"exchange": "ex00"}, channels=[AlertChannel.WEBHOOK])
    assert manager.notifier.notify(alert, "firing", destinations=["log"])  # escalation-style: never held
    assert sent.calls[-1] == (alert.alert_id, "log", "firing")


def test_trader_notifier_follows_the_published_routes(redis_url, store, keys) -> None:
    deployment = parse_settings({"redis": {"url": redis_url}, "notifications": {
        "webhook": {"url": "http://x/h", "destinations": {"pager": {"url": "http://y/p"}}}},
        "alerts": {"routes": [{"match": {"severity": "critical"}, "destinations": ["webhook:pager"]}],
                   "group_interval_seconds": 0}}, env={})
    published.publish(store, keys, deployment)
    assert "http://y/p" not in json.dumps(published.published_config(deployment))  # names, never URLs
    trader_settings = parse_settings({"redis": {"url": redis_url}}, env={})
    calls: list[tuple[str, str, str]] = []
    notifier = Notifier(store, keys, trader_settings, lambda *a: calls.append(a), deployment_config=False)
    alert = Alert(rule_name="x", title="t", message="m", severity=AlertSeverity.CRITICAL, channels=[AlertChannel.LOG])
    store.r.set(keys.alert(alert.alert_id), json.dumps(alert.to_dict()))
    assert notifier.notify(alert, "firing") and calls == [(alert.alert_id, "webhook:pager", "firing")]


@pytest.mark.parametrize("interval", [0])
def test_interval_zero_never_holds(make_manager, interval) -> None:
    manager, sent = make_manager(only_disconnects(group_interval_seconds=interval), {})
    assert len(manager.evaluate(STORM).created) == 20 and len(sent.calls) == 20  # log only, each at once


def test_a_lone_alert_that_ended_leaves_no_window_behind(make_manager) -> None:
    """Breach, clear, breach again within the interval: two incidents, each told at once (no storm)."""
    manager, sent = make_manager({**only_disconnects(), "cooldowns": {"critical": 0.01},
                                  "group_interval_seconds": 30}, {})
    one = {"exchanges": {"ex00": {"connected": False}}}
    calm = {"exchanges": {"ex00": {"connected": True}}}
    first = manager.evaluate(one).created[0]
    manager.evaluate(calm)
    time.sleep(0.02)
    second = manager.evaluate(one).created[0]
    assert first.alert_id != second.alert_id
    assert [a for a, _, k in sent.calls if k == "firing"] == [first.alert_id, second.alert_id]


def test_test_alert_reaches_a_named_destination(tmp_path, redis_url, webhook_receiver, monkeypatch) -> None:
    from click.testing import CliRunner

    from graphwiz_monitoring import context
    from graphwiz_monitoring.cli import main

    monkeypatch.delenv("GRAPHWIZ_REDIS_URL", raising=False)
    config = tmp_path / "monitoring.yaml"
    config.write_text(f"redis:\n  url: {redis_url}\nnotifications:\n  webhook:\n    url: http://127.0.0.1:9/unused\n"
                      f"    destinations:\n      pager: {{url: '{webhook_receiver.url}', timeout_seconds: 1}}\n")
    try:
        result = CliRunner().invoke(main, ["--config", str(config), "test-alert", "--channel", "Webhook:pager"])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "webhook:pager: sent" and len(webhook_receiver.delivered()) == 1
        unknown = CliRunner().invoke(main, ["--config", str(config), "test-alert", "--channel", "webhook:nope"])
        assert unknown.exit_code != 0 and "unknown destination webhook:nope" in unknown.output
        assert "SECRET" not in result.output + unknown.output
    finally:
        context.reset()
