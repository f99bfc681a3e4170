"""Escalation against a real Redis: steps reached once after their delay (Redis clock), held back by an ack,
ended by a resolution, claimed once among concurrent callers (docs/ALERTS.md "Escalation")."""

from __future__ import annotations

import threading
import time

from graphwiz_monitoring.alerting.manager import get_active_alerts
from graphwiz_monitoring.alerting.published import publish

WEBHOOK = {"webhook": {"url": "http://127.0.0.1:9/hook"}}
LOSS = {"trading": {"current_drawdown": 0.2}}
CALM = {"trading": {"current_drawdown": 0.01}}
OFF = {n: {"enabled": False} for n in ("high_cpu", "high_memory", "exchange_disconnect", "high_latency", "rate_limit",
                                       "neo4j_disconnect", "agent_failure", "risk_limit_breach", "disk_space")}
STEPS = [{"after_seconds": 0, "channels": ["log"]}, {"after_seconds": 0.4, "channels": ["webhook"]}]


def alerts(**extra):
    return {"rules": {**OFF, "large_loss": {"cooldown_seconds": 60}}, "escalation": {"critical": STEPS}, **extra}


def wait_steps(manager, seconds: float) -> list[tuple[str, int]]:
    reached, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        reached += manager.escalate_due()
        time.sleep(0.02)
    return reached


def test_step_two_is_told_once_after_its_delay_then_gets_the_repeats(make_manager, store, keys) -> None:
    manager, sent = make_manager(alerts(), WEBHOOK)
    alert = manager.evaluate(LOSS).created[0]
    started = time.monotonic()
    assert alert.channels == [alert.channels[0]] and alert.channels[0].value == "log"
    assert sent.calls == [(alert.alert_id, "log", "firing")]
    assert manager.escalate_due() == []
    reached = []
    while not reached and time.monotonic() - started < 3:
        reached = manager.escalate_due()
        time.sleep(0.01)
    assert reached == [(alert.alert_id, 2)] and 0.35 < time.monotonic() - started < 0.8
    assert sent.calls[1:] == [(alert.alert_id, "webhook", "escalated-2")]
    assert wait_steps(manager, 0.3) == [] and store.r.zcard(keys.alerts_escalation) == 0
    shown = get_active_alerts(store, keys)[0]
    assert [c.value for c in shown.channels] == ["log", "webhook"] and len(shown.escalation) == 2
    manager.resolve_alert("large_loss")
    assert {c for _, c, k in sent.calls if k == "resolved"} == {"log", "webhook"}


def test_an_ack_holds_the_step_back_until_it_ends(make_manager, store, keys) -> None:
    manager, sent = make_manager(alerts(), WEBHOOK)
    alert = manager.evaluate(LOSS).created[0]
    manager.acknowledge_alert(alert.alert_id, "alice", for_seconds=0.6)
    assert wait_steps(manager, 0.5) == []
    assert wait_steps(manager, 0.3) == [(alert.alert_id, 2)]  # the ack ran out: the step comes
    assert [k for _, _, k in sent.calls].count("escalated-2") == 1


def test_an_ack_without_expiry_holds_it_until_taken_back(make_manager, store, keys) -> None:
    manager, sent = make_manager(alerts(), WEBHOOK)
    alert = manager.evaluate(LOSS).created[0]
    manager.acknowledge_alert(alert.alert_id, "alice")
    assert wait_steps(manager, 0.6) == []
    manager.unacknowledge_alert(alert.alert_id, "alice")
    assert manager.escalate_due() == [(alert.alert_id, 2)]


def test_a_resolved_episode_escalates_no_further(make_manager, store, keys) -> None:
    manager, sent = make_manager(alerts(), WEBHOOK)
    manager.evaluate(LOSS)
    manager.evaluate(CALM)
    assert wait_steps(manager, 0.6) == [] and store.r.zcard(keys.alerts_escalation) == 0
    assert [k for _, _, k in sent.calls if k.startswith("escalated")] == []


def test_rule_steps_win_over_the_severity_ones_and_several_due_steps_all_go(make_manager, store, keys) -> None:
    own = [{"after_seconds": 0.1, "channels": ["webhook"]}, {"after_seconds": 0.2, "channels": ["log"]}]
    manager, sent = make_manager(alerts(rules={**OFF, "large_loss": {"escalation": own}}), WEBHOOK)
    alert = manager.evaluate(LOSS).created[0]
    assert alert.channels == [] and sent.calls == []  # nobody is told before the first step
    time.sleep(0.3)
    assert manager.escalate_due() == [(alert.alert_id, 1), (alert.alert_id, 2)]
    assert sent.calls == [(alert.alert_id, "webhook", "escalated-1"), (alert.alert_id, "log", "escalated-2")]


def test_concurrent_callers_claim_each_step_once(make_manager, store, keys) -> None:
    manager, sent = make_manager(alerts(), WEBHOOK)
    alert = manager.evaluate(LOSS).created[0]
    time.sleep(0.45)
    results: list[list[tuple[str, int]]] = []
    barrier = threading.Barrier(8)

    def run() -> None:
        barrier.wait()
        results.append(manager.escalate_due())

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r for rs in results for r in rs) == [(alert.alert_id, 2)]
    assert [c for c in sent.calls if c[2] == "escalated-2"] == [(alert.alert_id, "webhook", "escalated-2")]


def test_a_severity_rise_breaks_the_ack_and_the_parked_step_comes(make_manager, store, keys) -> None:
    steps = [{"after_seconds": 0, "channels": ["log"]}, {"after_seconds": 0.3, "channels": ["webhook"]}]
    manager, sent = make_manager({"rules": OFF, "escalation": {"warning": steps}}, WEBHOOK)
    alert_id = manager.open_episode("health:disk", "disk", "Disk degraded", "80%", "warning")
    manager.acknowledge_alert(alert_id, "alice")
    assert wait_steps(manager, 0.5) == []
    manager.open_episode("health:disk", "disk", "Disk critical", "97%", "critical")
    assert manager.escalate_due() == [(alert_id, 2)]


def test_a_traders_episode_escalates_by_the_deployments_published_steps(make_manager, store, keys) -> None:
    """A trader (no escalation of its own) opens an episode: its steps are the deployment's, published by the
    rule workers with routes and windows, and a worker's tick reaches step 2 (before: no steps at all, the
    trader's own empty configuration decided)."""
    worker, sent_by_worker = make_manager(alerts(), WEBHOOK)
    publish(store, keys, worker.settings)
    trader, sent = make_manager({"rules": {**OFF, "large_loss": {"cooldown_seconds": 60}}}, WEBHOOK)
    trader.notifier.deployment_config = False  # as TradingMonitor sets it
    alert = trader.evaluate(LOSS).created[0]
    assert [s["after_seconds"] for s in alert.escalation] == [0, 0.4]
    assert sent.calls == [(alert.alert_id, "log", "firing")]  # the first step's channel only
    assert wait_steps(worker, 0.8) == [(alert.alert_id, 2)]
    assert sent_by_worker.calls == [(alert.alert_id, "webhook", "escalated-2")]


def test_a_rule_steps_published_by_the_deployment_win_in_the_trader(make_manager, store, keys) -> None:
    own = [{"after_seconds": 0, "channels": ["webhook"]}]
    worker, _ = make_manager(alerts(rules={**OFF, "large_loss": {"escalation": own}}), WEBHOOK)
    publish(store, keys, worker.settings)
    trader, sent = make_manager({"rules": OFF}, WEBHOOK)
    trader.notifier.deployment_config = False
    alert = trader.evaluate(LOSS).created[0]
    assert alert.escalation == [{"after_seconds": 0, "channels": ["webhook"], "reached": True}]
    assert sent.calls == [(alert.alert_id, "webhook", "firing")]



def test_an_escalated_episode_is_routed_by_its_steps_not_by_the_routes(make_manager, store, keys) -> None:
    """A catch-all route does not take an escalated episode's notices: the first goes to the step at 0 s,
    the end to every step reached (before: the route took the first notice and the end, and step 1's
    channel was never told)."""
    manager, sent = make_manager(alerts(routes=[{"match": {}, "destinations": ["webhook"]}]), WEBHOOK)
    alert = manager.evaluate(LOSS).created[0]
    assert sent.calls == [(alert.alert_id, "log", "firing")]
    assert wait_steps(manager, 0.8) == [(alert.alert_id, 2)]
    manager.resolve_alert("large_loss")
    assert sent.calls[1:] == [(alert.alert_id, "webhook", "escalated-2")] + [
        (alert.alert_id, d, "resolved") for d in ("log", "webhook")]


def test_a_step_names_a_destination_which_gets_the_step_and_the_end(make_manager, store, keys) -> None:
    notifications = {"webhook": {"url": "http://127.0.0.1:9/hook",
                                 "destinations": {"pager": {"url": "http://127.0.0.1:9/pager"}}}}
    steps = [{"after_seconds": 0, "channels": ["log"]}, {"after_seconds": 0.3, "channels": ["webhook:pager"]}]
    manager, sent = make_manager({"rules": {**OFF, "large_loss": {"cooldown_seconds": 60}},
                                  "escalation": {"critical": steps}}, notifications)
    alert = manager.evaluate(LOSS).created[0]
    assert wait_steps(manager, 0.7) == [(alert.alert_id, 2)]
    assert [c.value for c in get_active_alerts(store, keys)[0].channels] == ["log", "webhook"]  # the types, shown
    manager.resolve_alert("large_loss")
    assert sent.calls == [(alert.alert_id, "log", "firing"), (alert.alert_id, "webhook:pager", "escalated-2"),
                          (alert.alert_id, "log", "resolved"), (alert.alert_id, "webhook:pager", "resolved")]


def test_a_step_handed_over_by_the_outbox_sweep_is_recorded_as_reached(make_manager, store, keys) -> None:
    """A worker that died between claiming step 2 and handing it over leaves it to the sweep, which calls
    notify(): the step's destinations still get the end."""
    manager, sent = make_manager(alerts(), WEBHOOK)
    alert = manager.evaluate(LOSS).created[0]
    manager.notify(get_active_alerts(store, keys)[0], "escalated-2")  # what the sweep does
    manager.resolve_alert("large_loss")
    assert {d for _, d, k in sent.calls if k == "resolved"} == {"log", "webhook"}
    assert sent.calls[1] == (alert.alert_id, "webhook", "escalated-2")
