"""Acknowledge against a real Redis: an ack holds back repeats, expires on the Redis clock, breaks on a
severity rise, and belongs to one episode (docs/ALERTS.md "Acknowledge")."""

from __future__ import annotations

import time

import pytest

from graphwiz_monitoring.alerting.manager import get_active_alerts, get_alert_history
from graphwiz_monitoring.errors import AlertNotFoundError

RULES = {"rules": {n: {"enabled": False} for n in (
    "high_cpu", "high_memory", "exchange_disconnect", "high_latency", "rate_limit", "neo4j_disconnect",
    "agent_failure", "risk_limit_breach", "disk_space")}}
LOSS = {"trading": {"current_drawdown": 0.2}}
CALM = {"trading": {"current_drawdown": 0.01}}


def loss(cooldown: float = 0.3):
    return {**RULES, "rules": {**RULES["rules"], "large_loss": {"cooldown_seconds": cooldown}}}


def repeats_after(manager, sent, seconds: float) -> list[str]:
    """Evaluate the breach for ``seconds`` (more than one cooldown) and return the repeat kinds sent."""
    before = len(sent.calls)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        manager.evaluate(LOSS)
        time.sleep(0.05)
    return [k for _, _, k in sent.calls[before:] if k.startswith("repeat")]


def test_ack_holds_back_repeats_and_shows_who(make_manager, store, keys) -> None:
    manager, sent = make_manager(loss())
    alert = manager.evaluate(LOSS).created[0]
    assert repeats_after(manager, sent, 0.35)  # repeats while unacknowledged
    acked = manager.acknowledge_alert(alert.alert_id, "alice", comment="on it")
    assert acked.acknowledged and acked.acknowledged_by == "alice" and acked.ack_comment == "on it"
    assert acked.ack_expires_at is None and abs(acked.acknowledged_at - store.now()) < 2
    assert repeats_after(manager, sent, 0.5) == []
    shown = get_active_alerts(store, keys)[0]
    data = shown.to_dict()
    assert data["acknowledged_by"] == "alice" and data["acknowledged"] is True and data["ack_comment"] == "on it"
    # taken back: the repeat that was held back goes at the next evaluation
    back = manager.unacknowledge_alert(alert.alert_id, "bob")
    assert not back.acknowledged and get_active_alerts(store, keys)[0].acknowledged_by is None
    assert manager.evaluate(LOSS).repeated == [alert.alert_id]


def test_ack_for_expires_on_the_redis_clock_and_repeats_resume(make_manager, store, keys) -> None:
    manager, sent = make_manager(loss())
    alert = manager.evaluate(LOSS).created[0]
    acked = manager.acknowledge_alert(alert.alert_id, "alice", for_seconds=0.6)
    assert acked.ack_expires_at == pytest.approx(acked.acknowledged_at + 0.6, abs=0.01)
    assert repeats_after(manager, sent, 0.45) == []
    assert get_active_alerts(store, keys)[0].acknowledged
    time.sleep(0.2)
    assert repeats_after(manager, sent, 0.2)  # the ack ran out: repeats again
    assert get_active_alerts(store, keys)[0].acknowledged_by is None


def test_severity_rise_breaks_the_ack_at_once(make_manager, store, keys) -> None:
    manager, sent = make_manager({**RULES, "cooldowns": {"warning": 60, "critical": 60}})
    alert_id = manager.open_episode("health:disk", "disk", "Disk degraded", "80% full", "warning")
    manager.acknowledge_alert(alert_id, "alice")
    manager.open_episode("health:disk", "disk", "Disk degraded", "81% full", "warning")
    assert [k for _, _, k in sent.calls] == ["firing"] * len(sent.calls)
    before = len(sent.calls)
    assert manager.open_episode("health:disk", "disk", "Disk critical", "97% full", "critical") == alert_id
    assert [k for _, _, k in sent.calls[before:]] and {k for _, _, k in sent.calls[before:]} == {"repeat-1"}
    shown = get_active_alerts(store, keys)[0]
    assert shown.severity.value == "critical" and shown.title == "Disk critical" and not shown.acknowledged
    # a lower severity again is no rise: a new ack holds
    manager.acknowledge_alert(alert_id, "alice")
    before = len(sent.calls)
    manager.open_episode("health:disk", "disk", "Disk degraded", "85% full", "warning")
    manager.open_episode("health:disk", "disk", "Disk critical", "97% full", "critical")
    assert sent.calls[before:] == [] and get_active_alerts(store, keys)[0].acknowledged


def test_a_new_episode_starts_unacknowledged_and_history_keeps_who(make_manager, store, keys) -> None:
    manager, sent = make_manager({**loss(), "resolve_after_seconds": 0})
    first = manager.evaluate(LOSS).created[0]
    manager.acknowledge_alert(first.alert_id, "alice")
    manager.resolve_alert("large_loss")
    with pytest.raises(AlertNotFoundError, match=first.alert_id):
        manager.acknowledge_alert(first.alert_id, "alice")
    time.sleep(0.35)  # past the flap window: a new episode
    second = manager.evaluate(LOSS).created[0]
    assert second.alert_id != first.alert_id
    assert not get_active_alerts(store, keys)[0].acknowledged
    assert repeats_after(manager, sent, 0.4)
    old = next(a for a in get_alert_history(store, keys) if a.alert_id == first.alert_id)
    assert old.acknowledged_by == "alice"


def test_unknown_ids_and_bad_input_are_named(make_manager) -> None:
    manager, _ = make_manager(loss())
    with pytest.raises(AlertNotFoundError, match="nope"):
        manager.acknowledge_alert("nope", "alice")
    with pytest.raises(AlertNotFoundError, match="nope"):
        manager.unacknowledge_alert("nope", "alice")
    alert = manager.evaluate(LOSS).created[0]
    with pytest.raises(ValueError, match="for_seconds.*-5"):
        manager.acknowledge_alert(alert.alert_id, "alice", for_seconds=-5)
    with pytest.raises(ValueError, match="by:.*''"):
        manager.acknowledge_alert(alert.alert_id, "")
    with pytest.raises(ValueError, match="comment"):
        manager.acknowledge_alert(alert.alert_id, "alice", comment="x" * 5000)
    assert isinstance(AlertNotFoundError("x"), ValueError)
