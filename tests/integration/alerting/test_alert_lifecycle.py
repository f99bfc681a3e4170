"""Alert lifecycle in Redis: create once per cooldown, pending, resolve, silences, inhibition, handoff."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from graphwiz_monitoring.alerting.manager import AlertManager, get_active_alerts
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity, AlertState
from graphwiz_monitoring.alerting.outbox import pending
from graphwiz_monitoring.alerting.rules import AlertRule
from graphwiz_monitoring.alerting.silences import add_silence, list_silences, remove_silence, silence_alert
from graphwiz_monitoring.errors import RuleError
from graphwiz_monitoring.state.dead_letters import list_dead_letters

WEBHOOK = {"webhook": {"url": "http://127.0.0.1:9/hook", "secret": "s3cr3t-signing-key"}}
LOSS = {"trading": {"current_drawdown": 0.2}}
CALM = {"trading": {"current_drawdown": 0.01}}
ONLY_LOSS = {"rules": {n: {"enabled": False} for n in (
    "high_cpu", "high_memory", "exchange_disconnect", "high_latency", "rate_limit", "neo4j_disconnect",
    "agent_failure", "risk_limit_breach", "disk_space")}}


def loss_rules(**large_loss):
    return {**ONLY_LOSS, "rules": {**ONLY_LOSS["rules"], "large_loss": {"channels": ["webhook", "log", "discord"],
                                                                        **large_loss}}}


def test_one_alert_per_breach_and_one_task_per_active_channel(make_manager, store, keys) -> None:
    manager, sent = make_manager(loss_rules(), WEBHOOK)
    pubsub = store.r.pubsub()
    pubsub.subscribe(keys.events)
    first = manager.evaluate(LOSS)
    assert len(first.created) == 1
    for _ in range(5):
        assert manager.evaluate(LOSS).created == []
    alert = first.created[0]
    # discord has no webhook_url configured: not active, so no task for it
    assert sorted(sent.of("firing")) == [(alert.alert_id, "log"), (alert.alert_id, "webhook")]
    assert all(sent.stored_first)
    stored = Alert.from_dict(json.loads(store.r.get(keys.alert(alert.alert_id))))
    assert stored.rule_name == "large_loss" and stored.state is AlertState.FIRING
    assert stored.title == "Large loss: drawdown 20.0%" and stored.metadata["value"] == 0.2
    assert "s3cr3t" not in store.r.get(keys.alert(alert.alert_id))
    assert [a.alert_id for a in manager.get_active_alerts()] == [alert.alert_id]
    assert [a.alert_id for a in get_active_alerts(store, keys)] == [alert.alert_id]
    assert store.r.hget(keys.alert_counts, "large_loss|critical") == "1"
    events = []
    deadline = time.monotonic() + 5
    while not events and time.monotonic() < deadline:
        msg = pubsub.get_message(timeout=0.2)
        if msg and msg["type"] == "message":
            events.append(json.loads(msg["data"]))
    assert events[0]["type"] == "alert" and events[0]["data"]["event"] == "firing"
    assert events[0]["data"]["alert_id"] == alert.alert_id
    pubsub.close()


def test_sustained_breach_is_one_alert_that_repeats_once_per_cooldown(make_manager, store, keys) -> None:
    manager, sent = make_manager(loss_rules(cooldown_seconds=0.4))
    first = manager.evaluate(LOSS).created[0]
    assert manager.evaluate(LOSS).repeated == []
    time.sleep(0.45)
    again = manager.evaluate(LOSS)
    assert again.created == [] and again.repeated == [first.alert_id]
    assert manager.evaluate(LOSS).repeated == []  # once per cooldown
    stored = Alert.from_dict(json.loads(store.r.get(keys.alert(first.alert_id))))
    assert stored.state is AlertState.FIRING and "superseded_by" not in stored.metadata
    assert [a.alert_id for a in manager.get_active_alerts()] == [first.alert_id]
    assert sent.of("firing") == [(first.alert_id, "log")] and sent.of("repeat-1") == [(first.alert_id, "log")]
    assert sent.of("resolved") == [] and pending(store, keys) == []
    assert store.r.hget(keys.alert_counts, "large_loss|critical") == "1"  # one alert, not one per repeat


def test_resolve_notifies_send_resolved_channels_and_a_flap_reopens_the_same_alert(make_manager, store,
                                                                                   keys) -> None:
    manager, sent = make_manager(loss_rules(cooldown_seconds=0.5), {**WEBHOOK, "log": {"send_resolved": False}})
    alert = manager.evaluate(LOSS).created[0]
    result = manager.evaluate(CALM)
    assert [a.alert_id for a in result.resolved] == [alert.alert_id]
    assert manager.evaluate(CALM).resolved == []  # resolved once
    assert sent.of("resolved") == [(alert.alert_id, "webhook")]  # log: send_resolved false
    stored = Alert.from_dict(json.loads(store.r.get(keys.alert(alert.alert_id))))
    assert stored.state is AlertState.RESOLVED and stored.resolved_at >= stored.created_at
    assert manager.get_active_alerts() == []
    back = manager.evaluate(LOSS)  # back within the cooldown: the same episode, active at once, unannounced
    assert back.created == [] and back.reopened == [alert.alert_id]
    assert [a.alert_id for a in manager.get_active_alerts()] == [alert.alert_id]
    assert manager.get_active_alerts()[0].state is AlertState.FIRING
    assert len(sent.of("firing")) == 2  # the first notification only (webhook + log)
    time.sleep(0.5)
    assert manager.evaluate(LOSS).repeated == [alert.alert_id]  # still holding after the cooldown: a repeat
    manager.evaluate(CALM)  # the re-opened episode ends with a resolved notice of its own
    assert sent.of("resolved-2") == [(alert.alert_id, "webhook")] and len(sent.of("resolved")) == 1
    time.sleep(0.55)
    fresh = manager.evaluate(LOSS).created  # clear for longer than the cooldown: a new episode
    assert len(fresh) == 1 and fresh[0].alert_id != alert.alert_id


def test_resolved_notice_waits_resolve_after_seconds(make_manager, store, keys) -> None:
    manager, sent = make_manager({**loss_rules(cooldown_seconds=0.2), "resolve_after_seconds": 0.6})
    alert = manager.evaluate(LOSS).created[0]
    assert [a.alert_id for a in manager.evaluate(CALM).resolved] == [alert.alert_id]
    assert manager.get_active_alerts() == [] and sent.of("resolved") == []  # resolved now, notice not yet
    time.sleep(0.3)  # past the cooldown, within resolve_after: the notice has not gone, so the episode goes on
    assert manager.evaluate(LOSS).reopened == [alert.alert_id]
    manager.evaluate(CALM)
    deadline = time.monotonic() + 5
    while not sent.of("resolved") and time.monotonic() < deadline:
        manager.evaluate(CALM)
        time.sleep(0.05)
    assert sent.of("resolved") == [(alert.alert_id, "log")]
    manager.evaluate(CALM)
    assert sent.of("resolved") == [(alert.alert_id, "log")] and sent.of("firing") == [(alert.alert_id, "log")]


def test_for_seconds_pending_then_firing_and_pending_cleared(make_manager) -> None:
    manager, sent = make_manager(loss_rules(for_seconds=0.4))
    first = manager.evaluate(LOSS)
    assert first.created == [] and first.pending == 1
    assert manager.evaluate(CALM).created == []  # breach gone while pending: nothing, and pending is reset
    assert manager.evaluate(LOSS).pending == 1
    time.sleep(0.2)
    assert manager.evaluate(LOSS).created == []
    time.sleep(0.25)
    assert len(manager.evaluate(LOSS).created) == 1
    assert {c for _, c, _ in sent.calls} == {"log"}


def test_cooldown_defaults_come_from_severity(make_manager, store, keys) -> None:
    manager, _ = make_manager({**ONLY_LOSS, "cooldowns": {"warning": 0.3, "critical": 30}})
    manager.custom_rules["dd_warn"] = AlertRule(name="dd_warn", condition="trading.current_drawdown > 0.1",
                                                severity="warning")
    manager.custom_rules["dd_crit"] = AlertRule(name="dd_crit", condition="trading.current_drawdown > 0.1",
                                                severity=AlertSeverity.CRITICAL)
    created = {a.rule_name: a.alert_id for a in manager.evaluate_custom(LOSS).created}
    assert set(created) == {"dd_warn", "dd_crit"}
    time.sleep(0.35)
    assert manager.evaluate_custom(LOSS).repeated == [created["dd_warn"]]


def test_per_exchange_alerts_and_default_inhibition(make_manager) -> None:
    manager, _ = make_manager()
    snap = {"exchanges": {"binance": {"connected": False, "p99_latency": 9.0, "rate_limit_remaining": 2},
                          "kraken": {"connected": True, "p99_latency": 7.0, "rate_limit_remaining": 500}}}
    created = manager.evaluate(snap).created
    assert sorted((a.rule_name, a.labels.get("exchange")) for a in created) == [
        ("exchange_disconnect", "binance"), ("high_latency", "kraken")]
    assert "binance" in next(a for a in created if a.rule_name == "exchange_disconnect").title
    # binance reconnects with high latency: the inhibition lifts in the same evaluation
    snap["exchanges"]["binance"]["connected"] = True
    result = manager.evaluate(snap)
    assert [(a.rule_name, a.labels["exchange"]) for a in result.resolved] == [("exchange_disconnect", "binance")]
    assert sorted((a.rule_name, a.labels["exchange"]) for a in result.created) == [
        ("high_latency", "binance"), ("rate_limit", "binance")]


def test_runtime_silences_by_rule_label_and_severity(make_manager, store, keys) -> None:
    manager, sent = make_manager({"group_interval_seconds": 0})  # binance right after kraken: sent at once
    snap = {"exchanges": {"binance": {"p99_latency": 9.0}, "kraken": {"p99_latency": 8.0}},
            "risk": {"leverage": 5}}
    now = time.time()
    by_label = add_silence(store, keys, {"exchange": "binance"}, ends_at=now + 60, author="ops", reason="maint")
    add_silence(store, keys, {"severity": "emergency"}, ends_at=now + 60, author="ops", reason="drill")
    result = manager.evaluate(snap)
    assert [(a.rule_name, a.labels) for a in result.created] == [("high_latency", {"exchange": "kraken"})]
    assert result.suppressed == 2
    assert manager.evaluate(snap).created == [] and store.r.hget(keys.notification_counts, "log|suppressed") == "2"
    assert {s.reason for s in list_silences(store, keys)} == {"maint", "drill"}
    assert remove_silence(store, keys, by_label.id) is True
    assert [a.labels for a in manager.evaluate(snap).created] == [{"exchange": "binance"}]
    assert len(sent.of("firing")) == 2


def test_silence_created_from_an_alert_and_expired_silences_purged(make_manager, store, keys) -> None:
    manager, _ = make_manager(loss_rules(cooldown_seconds=0.1))
    alert = manager.evaluate(LOSS).created[0]
    silence = silence_alert(store, keys, manager.settings, alert_id=alert.alert_id, duration_seconds=0.3,
                            author="me", reason="known")
    assert silence.matchers == {"rule": "large_loss"}
    # muted while firing: no repeat, and the resolution is not notified
    time.sleep(0.15)
    assert manager.evaluate(LOSS).created == [] and manager.evaluate(LOSS).suppressed == 0
    with pytest.raises(LookupError):
        silence_alert(store, keys, manager.settings, alert_id="nope", duration_seconds=5)
    time.sleep(0.2)
    assert list_silences(store, keys) == [] and not store.r.exists(keys.silence(silence.id))  # its key expired
    assert manager.evaluate(LOSS).repeated == [alert.alert_id]  # unmuted, still firing: the same alert repeats


def test_config_silence(make_manager) -> None:
    manager, sent = make_manager({**loss_rules(), "silences": [
        {"matchers": {"rule": "large_*"}, "ends_at": "2999-01-01T00:00:00Z", "reason": "cfg"}]})
    assert manager.evaluate(LOSS).created == [] and sent.calls == []
    with pytest.raises(RuleError, match="config file"):
        remove_silence(manager.store, manager.keys, manager._config_silences[0].id)


def test_resolved_while_silenced_is_not_notified(make_manager, store, keys) -> None:
    manager, sent = make_manager(loss_rules())
    alert = manager.evaluate(LOSS).created[0]
    add_silence(store, keys, {"rule": "large_loss"}, ends_at=time.time() + 60)
    assert [a.alert_id for a in manager.evaluate(CALM).resolved] == [alert.alert_id]
    assert sent.of("resolved") == []


def test_condition_errors_skip_without_resolving(make_manager) -> None:
    manager, sent = make_manager(ONLY_LOSS)
    state = {"raise": False}
    manager.registry.get("large_loss").enabled = False

    def flaky(snapshot):
        if state["raise"]:
            raise RuntimeError("boom")
        return snapshot["trading"]["current_drawdown"] > 0.1

    manager.custom_rules["flaky"] = AlertRule(name="flaky", condition=flaky)
    assert len(manager.evaluate(LOSS).created) == 1
    state["raise"] = True
    result = manager.evaluate(CALM)
    assert result.skipped == ["flaky"] and result.resolved == []
    assert [a.rule_name for a in manager.get_active_alerts()] == ["flaky"]


def test_check_alert_send_alert_resolve_alert_and_history(make_manager, store, keys) -> None:
    manager, sent = make_manager(loss_rules(), WEBHOOK)
    alert = manager.check_alert("large_loss", LOSS, context={"drawdown_percent": 99})
    assert alert is not None and alert.title == "Large loss: drawdown 99.0%"
    assert manager.check_alert("large_loss", LOSS) is None
    assert asyncio.run(manager.send_alert(alert)) is True
    assert len(sent.of("firing")) == 2  # send_alert after check_alert does not send twice
    with pytest.raises(RuleError, match="unknown alert rule"):
        manager.check_alert("nope", LOSS)
    external = Alert(rule_name="external", title="t", message="m", severity=AlertSeverity.INFO)
    assert asyncio.run(manager.send_alert(external)) is True
    assert (external.alert_id, "log") in sent.of("firing")
    resolved = manager.resolve_alert("large_loss")
    assert [a.alert_id for a in resolved] == [alert.alert_id] and manager.resolve_alert("large_loss") == []
    manual = manager.create_manual_alert("Custom Alert", "Something happened", AlertSeverity.WARNING,
                                         metadata={"who": "me"})
    assert {c for a, c in sent.of("firing") if a == manual.alert_id} == {"log", "webhook"}
    history = manager.get_alert_history(hours=1)
    assert [a.alert_id for a in history] == [manual.alert_id, external.alert_id, alert.alert_id]
    assert [a.alert_id for a in manager.get_alert_history(hours=1, severity="warning")] == [manual.alert_id]
    assert manager.get_alert_history(hours=1, severity=AlertSeverity.CRITICAL)[0].state is AlertState.RESOLVED


def test_every_key_is_bounded(make_manager, store, keys) -> None:
    manager, _ = make_manager({**loss_rules(cooldown_seconds=0.1), "history_max_entries": 3})
    for _ in range(5):  # five episodes: each clear for longer than the cooldown
        manager.evaluate(LOSS)
        manager.evaluate(CALM)
        time.sleep(0.11)
    assert store.r.zcard(keys.alerts_history) == 3
    for key in store.r.keys("*"):
        if key in (keys.alerts_history, keys.alert_counts, keys.alerts_active, keys.alerts_tracked,
                   keys.notification_counts, keys.silences, keys.dead_letters):
            continue  # bounded by count/rules, see KeySpace
        assert store.r.ttl(key) > 0, key
    assert store.r.scard(keys.alerts_tracked) == 0 and store.r.hlen(keys.alerts_active) == 0
    assert not store.r.exists(keys.notify_outbox)  # every entry left once its tasks were enqueued
    assert not store.r.exists(keys.notify_handed)  # and every task started


def test_enqueue_failure_stays_in_the_outbox_without_secrets(make_manager, store, keys, caplog) -> None:
    def broken(alert_id, channel, kind):
        raise ConnectionError("broker at redis://:hunter2@host down")

    manager, _ = make_manager(loss_rules(), WEBHOOK, dispatch=broken)
    alert = manager.evaluate(LOSS).created[0]
    assert pending(store, keys) == [f"{alert.alert_id}|firing"]  # the sweep retries it (test_alert_outbox.py)
    assert list_dead_letters(store, keys) == []
    failures = [r.getMessage() for r in caplog.records if "could not enqueue" in r.getMessage()]
    assert len(failures) == 2 and all("ConnectionError" in m for m in failures)
    assert "hunter2" not in caplog.text and "s3cr3t" not in caplog.text


def test_threads_with_separate_managers_create_exactly_one_alert(make_manager, store, keys) -> None:
    managers = [make_manager(loss_rules()) for _ in range(8)]
    barrier = threading.Barrier(len(managers))
    created: list[str] = []

    def run(manager: AlertManager) -> None:
        barrier.wait()
        for _ in range(50):
            created.extend(a.alert_id for a in manager.evaluate(LOSS).created)

    threads = [threading.Thread(target=run, args=(m,)) for m, _ in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1
    # webhook and discord are not configured here: one task, for the log channel
    assert [c for _, r in managers for c in r.calls] == [(created[0], "log", "firing")]


def test_no_secret_in_logs_records_or_events(make_manager, store, keys, caplog) -> None:
    secrets = {"discord": {"webhook_url": "https://discord.com/api/webhooks/1/TOPSECRETdiscord"},
               "webhook": {"url": "https://hooks.example/TOPSECRETwebhook", "secret": "TOPSECREThmac",
                           "headers": {"Authorization": "Bearer TOPSECRETbearer"}},
               "telegram": {"bot_token": "123:TOPSECRETtelegram", "chat_id": "42"}}

    def broken(alert_id, channel, kind):
        raise ConnectionError("refused")

    caplog.set_level("DEBUG")
    manager, _ = make_manager(loss_rules(), secrets, dispatch=broken)
    pubsub = store.r.pubsub()
    pubsub.subscribe(keys.events)
    manager.evaluate(LOSS)
    manager.evaluate(CALM)
    manager.create_manual_alert("t", "m", "emergency")
    seen = []
    while (msg := pubsub.get_message(timeout=0.2)) is not None:
        seen.append(str(msg.get("data")))
    pubsub.close()
    records = {k: store.r.get(k) for k in store.r.keys("*") if store.r.type(k) == "string"}
    everything = caplog.text + "".join(seen) + json.dumps(records)
    assert "TOPSECRET" not in everything
    assert len(pending(store, keys)) == 3  # the failed enqueues are kept (firing, resolved, manual), not dropped


def test_concurrent_evaluators_send_each_repeat_once(make_manager, store, keys) -> None:
    """Eight processes' worth of managers evaluate one sustained breach in a tight loop for ~1 s with a
    0.2 s cooldown: one alert, one first notification and each repeat exactly once per channel."""
    managers = [make_manager(loss_rules(cooldown_seconds=0.2), WEBHOOK) for _ in range(8)]
    stop = time.monotonic() + 1.0

    def run(manager: AlertManager) -> None:
        while time.monotonic() < stop:
            manager.evaluate(LOSS)

    threads = [threading.Thread(target=run, args=(m,)) for m, _ in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = [c for _, sent in managers for c in sent.calls]
    ids = {a for a, _, _ in calls}
    assert len(ids) == 1 and store.r.zcard(keys.alerts_history) == 1
    assert len(calls) == len(set(calls)), "a notification was handed over twice"
    kinds = sorted({k for _, _, k in calls}, key=lambda k: (k != "firing", len(k), k))
    assert kinds[0] == "firing" and 3 <= len(kinds) - 1 <= 6, kinds
    assert kinds[1:] == [f"repeat-{n}" for n in range(1, len(kinds))]  # no gap, no duplicate
    assert all(sorted(c for _, c, k in calls if k == kind) == ["log", "webhook"] for kind in kinds)


def test_email_floor_skips_repeats_and_a_sweep_hands_the_same_repeat_over_again(make_manager, store, keys) -> None:
    email = {"email": {"enabled": True, "smtp_server": "127.0.0.1", "from": "m@example.com", "to": ["o@example.com"]}}
    manager, sent = make_manager(loss_rules(cooldown_seconds=0.2, channels=["webhook", "email", "log"]),
                                 {**WEBHOOK, **email})
    assert manager.settings.notifications.email.min_repeat_seconds == 900
    alert = manager.evaluate(LOSS).created[0]
    deadline = time.monotonic() + 5
    while len(sent.of("repeat-2")) < 2 and time.monotonic() < deadline:
        manager.evaluate(LOSS)
        time.sleep(0.02)
    assert sorted(sent.of("firing")) == [(alert.alert_id, c) for c in ("email", "log", "webhook")]
    assert sorted(sent.of("repeat-1")) == sorted(sent.of("repeat-2")) == [(alert.alert_id, c) for c in ("log", "webhook")]
    # the same repeat handed over again (the outbox sweep after a crash) keeps its channels
    assert manager.notifier.past_floor(alert.alert_id, list(alert.channels), "repeat-2") == list(alert.channels)[:1] + \
        list(alert.channels)[2:]
    manager.evaluate(CALM)
    assert sorted(sent.of("resolved")) == [(alert.alert_id, c) for c in ("email", "log", "webhook")]  # no floor
