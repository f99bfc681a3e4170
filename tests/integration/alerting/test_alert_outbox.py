"""The notification outbox (real Redis): an alert's notification survives the process dying (or the
broker refusing) between creating the alert and enqueueing its tasks, and is still sent only once."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from graphwiz_monitoring.alerting.delivery import deliver_notification, read_notification_counts
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity, AlertState
from graphwiz_monitoring.alerting.notifier import sweep
from graphwiz_monitoring.alerting.outbox import pending, started
from graphwiz_monitoring.alerting.silences import add_silence
from graphwiz_monitoring.state.dead_letters import list_dead_letters
from tests.fakes.notify_fixtures import notifications_config

WEBHOOK = {"webhook": {"url": "http://127.0.0.1:9/hook"}}
LOSS = {"trading": {"current_drawdown": 0.2}}
CALM = {"trading": {"current_drawdown": 0.01}}


def loss_rules() -> dict:
    """Only ``large_loss``, sent to webhook, log and discord (discord is never configured here)."""
    others = ("high_cpu", "high_memory", "exchange_disconnect", "high_latency", "rate_limit", "neo4j_disconnect",
              "agent_failure", "risk_limit_breach", "disk_space")
    return {"rules": {**{n: {"enabled": False} for n in others},
                      "large_loss": {"channels": ["webhook", "log", "discord"]}}}


class Died(BaseException):
    """The process ending mid-handoff (os._exit, SIGKILL): nothing after it runs."""


class FailFirst:
    """A dispatcher whose next call raises ``error`` (broker down, or the process dying); records the rest,
    and their tasks start (none is lost by the broker: see the handed-task tests for that)."""

    def __init__(self, store, keys, error: BaseException | None) -> None:
        self.store, self.keys = store, keys
        self.error: BaseException | None = error
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, alert_id: str, channel: str, kind: str) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        self.calls.append((alert_id, channel, kind))
        started(self.store, self.keys, alert_id, kind, channel)


@pytest.mark.parametrize("error", [Died(), ConnectionError("broker down")], ids=["process-died", "broker-down"])
def test_lost_handoff_is_swept_once_per_channel(make_manager, store, keys, error) -> None:
    dispatch = FailFirst(store, keys, error)
    manager, _ = make_manager(loss_rules(), WEBHOOK, dispatch=dispatch)
    if isinstance(error, Died):
        with pytest.raises(Died):
            manager.evaluate(LOSS)
    else:
        manager.evaluate(LOSS)
    (alert_id,) = store.r.hvals(keys.alerts_active)
    assert pending(store, keys) == [f"{alert_id}|firing"]
    assert list_dead_letters(store, keys) == []
    before = list(dispatch.calls)

    assert sweep(manager).dispatched == 0  # younger than the grace period: maybe still being enqueued
    result = sweep(manager, grace_seconds=0)
    assert result.summary() == {"dispatched": 1, "dropped": 0, "muted": 0, "failed": 0,
                                "resent": 0, "waiting": 0, "grouped": 0}
    assert sorted(dispatch.calls[len(before):]) == [(alert_id, "log", "firing"), (alert_id, "webhook", "firing")]
    assert pending(store, keys) == [] and not store.r.exists(keys.notify_outbox)
    assert sweep(manager, grace_seconds=0).dispatched == 0
    assert len(dispatch.calls) == len(before) + 2


def test_manual_and_sent_alerts_are_recorded_with_their_record(make_manager, store, keys) -> None:
    dispatch = FailFirst(store, keys, Died())
    manager, _ = make_manager(loss_rules(), WEBHOOK, dispatch=dispatch)
    with pytest.raises(Died):
        manager.create_manual_alert("Exchange down", "binance", "critical", channels=["webhook"])
    (entry,) = pending(store, keys)
    alert_id = entry.split("|")[0]
    assert store.r.exists(keys.alert(alert_id))
    external = Alert(rule_name="external", title="t", message="m", severity=AlertSeverity.INFO)
    dispatch.error = ConnectionError("broker down")
    assert asyncio.run(manager.send_alert(external)) is False
    assert asyncio.run(manager.send_alert(external)) is True  # known alert: recorded once, not again
    assert sorted(pending(store, keys)) == sorted([entry, f"{external.alert_id}|firing"])
    assert sweep(manager, grace_seconds=0).dispatched == 2
    assert sorted(dispatch.calls) == sorted([(alert_id, "webhook", "firing"), (external.alert_id, "log", "firing")])
    assert pending(store, keys) == []


def test_normal_path_leaves_the_outbox_empty(make_manager, store, keys) -> None:
    manager, sent = make_manager(loss_rules(), WEBHOOK)
    alert = manager.check_alert("large_loss", LOSS)
    assert asyncio.run(manager.send_alert(alert)) is True
    manager.evaluate(CALM)
    manager.create_manual_alert("t", "m")
    external = Alert(rule_name="external", title="t", message="m", severity=AlertSeverity.INFO)
    asyncio.run(manager.send_alert(external))
    external.state = AlertState.RESOLVED
    assert asyncio.run(manager.send_alert(external)) is True
    assert asyncio.run(manager.send_alert(external)) is True  # resolved once
    assert '"state": "resolved"' in store.r.get(keys.alert(external.alert_id))  # the record says so too
    assert not store.r.exists(keys.notify_outbox)
    assert sorted(sent.of("resolved")) == sorted([(alert.alert_id, "log"), (alert.alert_id, "webhook"),
                                                  (external.alert_id, "log")])
    assert sweep(manager, grace_seconds=0).summary() == {"dispatched": 0, "dropped": 0, "muted": 0, "failed": 0,
                                                                    "resent": 0, "waiting": 0, "grouped": 0}


def test_resolution_goes_through_the_outbox_and_respects_send_resolved(make_manager, store, keys) -> None:
    dispatch = FailFirst(store, keys, None)
    manager, _ = make_manager(loss_rules(), {**WEBHOOK, "log": {"send_resolved": False}}, dispatch=dispatch)
    alert = manager.evaluate(LOSS).created[0]
    dispatch.error = Died()
    with pytest.raises(Died):
        manager.evaluate(CALM)
    assert pending(store, keys) == [f"{alert.alert_id}|resolved"]
    assert sweep(manager, grace_seconds=0).dispatched == 1
    assert [c for c in dispatch.calls if c[2] == "resolved"] == [(alert.alert_id, "webhook", "resolved")]
    assert pending(store, keys) == []


def test_resolution_no_channel_sends_leaves_nothing_behind(make_manager, store, keys) -> None:
    dispatch = FailFirst(store, keys, None)
    manager, _ = make_manager(loss_rules(), {"log": {"send_resolved": False}}, dispatch=dispatch)
    alert = manager.evaluate(LOSS).created[0]
    manager.evaluate(CALM)
    assert pending(store, keys) == []  # nothing to enqueue is a completed handoff
    store.r.zadd(keys.notify_outbox, {f"{alert.alert_id}|resolved": 0})  # as if it died right after resolving
    assert sweep(manager, grace_seconds=0).dispatched == 1
    assert dispatch.calls == [(alert.alert_id, "log", "firing")] and pending(store, keys) == []


def test_muted_resolution_is_dropped_by_the_sweep(make_manager, store, keys) -> None:
    dispatch = FailFirst(store, keys, None)
    manager, _ = make_manager(loss_rules(), WEBHOOK, dispatch=dispatch)
    manager.evaluate(LOSS)
    dispatch.error = Died()
    with pytest.raises(Died):
        manager.evaluate(CALM)
    add_silence(store, keys, {"rule": "large_loss"}, ends_at=time.time() + 60)  # muted before the sweep
    result = sweep(manager, grace_seconds=0)
    assert result.muted == 1 and result.dropped == 2  # the resolution, and its tasks marked handed
    assert pending(store, keys) == [] and [c for c in dispatch.calls if c[2] == "resolved"] == []
    assert not store.r.exists(keys.notify_handed)


def test_muted_resolution_leaves_no_entry(make_manager, store, keys) -> None:
    manager, sent = make_manager(loss_rules(), WEBHOOK)
    manager.evaluate(LOSS)
    add_silence(store, keys, {"rule": "large_loss"}, ends_at=time.time() + 60)
    assert len(manager.evaluate(CALM).resolved) == 1
    assert sent.of("resolved") == [] and pending(store, keys) == []


def test_entry_of_an_expired_alert_is_dropped(make_manager, store, keys, caplog) -> None:
    caplog.set_level(logging.INFO)
    dispatch = FailFirst(store, keys, Died())
    manager, _ = make_manager(loss_rules(), WEBHOOK, dispatch=dispatch)
    with pytest.raises(Died):
        manager.evaluate(LOSS)
    (alert_id,) = store.r.hvals(keys.alerts_active)
    store.r.delete(keys.alert(alert_id))  # expired (alerts.history_retention_hours)
    store.r.zadd(keys.notify_outbox, {"not-an-entry": 0})
    result = sweep(manager, grace_seconds=0)
    # The entry, the unreadable one, and the two tasks marked handed before the process died.
    assert result.dropped == 4 and result.dispatched == 0 and dispatch.calls == []
    assert not store.r.exists(keys.notify_outbox) and not store.r.exists(keys.notify_handed)
    assert any("alert record not found" in r.getMessage() and alert_id in r.getMessage() for r in caplog.records)


def test_failed_sweep_keeps_the_entry_for_a_later_sweep(make_manager, store, keys) -> None:
    def broken(alert_id, channel, kind):
        raise ConnectionError("broker down")

    manager, _ = make_manager(loss_rules(), WEBHOOK, dispatch=broken)
    manager.create_manual_alert("a", "m", channels=["log"])
    manager.create_manual_alert("b", "m", channels=["log"])
    result = sweep(manager, grace_seconds=0)
    assert result.failed == 1 and result.dispatched == 0  # stops at the first failure: the broker is down
    assert len(pending(store, keys)) == 2
    assert sweep(manager, grace_seconds=5).failed == 0  # both were pushed back by a grace period
    assert list_dead_letters(store, keys) == []


def test_duplicate_handoffs_send_once(make_manager, store, keys, redis_url, webhook_receiver) -> None:
    """The original process delivered to the webhook, then died before the log channel; three sweeps
    race each other, then a fourth runs: the webhook and the log channel each send exactly once."""
    notifications = notifications_config(webhook=webhook_receiver)
    state = {"die_at": "log"}

    def deliver(alert_id: str, channel: str, kind: str) -> None:
        if channel == state["die_at"]:
            state["die_at"] = None
            raise Died()
        deliver_notification(manager.store, manager.keys, manager.settings, alert_id, channel, kind)

    manager, _ = make_manager(loss_rules(), notifications, dispatch=deliver)
    with pytest.raises(Died):
        manager.evaluate(LOSS)
    assert len(webhook_receiver.received()) == 1
    sweepers = [make_manager(loss_rules(), notifications, dispatch=deliver)[0] for _ in range(3)]
    barrier = threading.Barrier(len(sweepers))

    def run(other) -> None:
        barrier.wait()
        sweep(other, grace_seconds=0)

    threads = [threading.Thread(target=run, args=(m,)) for m in sweepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sweep(manager, grace_seconds=0)
    assert len(webhook_receiver.received()) == 1
    counts = read_notification_counts(store, keys)
    assert counts[("webhook", "sent")] == 1 and counts[("log", "sent")] == 1
    assert pending(store, keys) == []


def test_handed_task_that_never_starts_is_enqueued_again_unless_its_queue_has_a_backlog(
        make_manager, store, keys) -> None:
    lost: list[tuple[str, str, str]] = []
    manager, _ = make_manager(loss_rules(), WEBHOOK, dispatch=lambda *task: lost.append(task))  # never starts
    alert = manager.evaluate(LOSS).created[0]
    assert pending(store, keys) == [] and len(lost) == 2
    marks = sorted(store.r.zrange(keys.notify_handed, 0, -1))
    assert marks == [f"{alert.alert_id}|firing|log", f"{alert.alert_id}|firing|webhook"]
    assert sweep(manager).resent == 0  # younger than the grace period: may still be on its way

    store.r.lpush("notify.webhook", "another task")  # a backlog: the task may still be in it
    result = sweep(manager, grace_seconds=0)
    assert (result.resent, result.waiting) == (1, 1)
    assert lost[2:] == [(alert.alert_id, "log", "firing")]
    store.r.delete("notify.webhook")
    assert sweep(manager, grace_seconds=0).resent == 2  # still not started, queue empty: again, once per sweep
    started(store, keys, alert.alert_id, "firing", "webhook")
    started(store, keys, alert.alert_id, "firing", "log")
    assert sweep(manager, grace_seconds=0).summary()["resent"] == 0 and not store.r.exists(keys.notify_handed)
