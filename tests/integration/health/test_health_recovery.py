"""Recovery through the control stream: a real ControlListener thread (trader side) executing on plain
objects, a RecoveryRunner (worker side) waiting for honest acknowledgements, all over real Redis.
"""

from __future__ import annotations

import json

import pytest

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.health.commands import (
    Command,
    live_traders,
    read_results,
    send_command,
    touch_trader,
)
from graphwiz_monitoring.health.pause import is_trading_paused, set_trading_paused, trading_pause_status
from graphwiz_monitoring.health.recovery import RecoveryRunner, recovery_counts, recovery_history
from graphwiz_monitoring.trader.control import ControlListener
from graphwiz_monitoring.trader.dependencies import Dependencies
from tests.conftest import wait_until
from tests.fakes.trader_world import dependencies


def settings_for(redis_url, **recovery):
    return parse_settings({"redis": {"url": redis_url},
                           "recovery": {"ack_timeout_seconds": 3, **recovery}}, env={})


def start_listener(store, keys, listener: ControlListener) -> ControlListener:
    """Start the thread and wait until it is registered as live (a command sent now reaches it)."""
    listener.start()
    wait_until(lambda: listener.identity in live_traders(store, keys, 30), message=f"{listener.identity} live")
    return listener


def result_of(store, keys, command_id: str, identity: str = "t", timeout: float = 5) -> dict:
    return wait_until(lambda: read_results(store, keys, command_id).get(identity), timeout=timeout,
                      message=f"{identity}'s answer to {command_id}")


@pytest.fixture
def trader(store, keys, world, report, tmp_path):
    """A live trader: fresh heartbeat + control listener thread over the world's objects."""
    report()
    deps = Dependencies(**dependencies(world))
    listener = start_listener(store, keys, ControlListener(store, keys, deps, identity="test-trader-1", action_timeout=2,
                                                           block_ms=100, state_dir=tmp_path / "state"))
    yield listener
    listener.stop()


def runner(redis_url, store, keys, alerts=None, **recovery):
    return RecoveryRunner(settings_for(redis_url, **recovery), store, keys, alert_manager=alerts)


class RecordingAlerts:
    def __init__(self) -> None:
        self.alerts: list[tuple] = []

    def create_manual_alert(self, title, message, severity, channels=None, metadata=None):
        self.alerts.append((title, severity, metadata))
        return "a1"


def test_reconnect_succeeds_and_stops_there(redis_url, store, keys, world, trader):
    world.update(exchanges={"binance": {"connected": False}, "kraken": {"connected": True}})
    report = runner(redis_url, store, keys).run("exchange_connectivity", "r1",
                                                {"failing": ["binance"], "service": "exchange"})
    assert [(a.action, a.outcome) for a in report.attempts] == [("reconnect", "succeeded")]
    assert report.successful is True
    assert world.called("exchange_manager.reconnect") == [("binance",)]
    assert world.state["exchanges"]["binance"]["connected"] is True
    assert report.attempts[0].details["calls"][0]["call"] == "exchange_manager.reconnect('binance')"
    assert recovery_counts(store, keys) == {("reconnect", "succeeded"): 1}
    summary = json.loads(store.r.hget(keys.health_recovery, "exchange_connectivity"))
    assert summary["recovery_id"] == "r1" and summary["successful"] is True


def test_reconnect_that_raises_is_failed_then_notify_admin(redis_url, store, keys, world, trader):
    world.update(reconnect_works=False)
    alerts = RecordingAlerts()
    report = runner(redis_url, store, keys, alerts).run(
        "exchange_connectivity", "r2", {"failing": ["binance"], "service": "exchange", "status": "unhealthy"})
    (reconnect, notify) = report.attempts
    assert reconnect.outcome == "failed" and "ConnectionError: cannot reach binance" in reconnect.reason
    assert notify.action == "notify_admin" and notify.outcome == "succeeded"
    assert alerts.alerts[0][0] == "Recovery needed: exchange_connectivity"
    history = recovery_history(store, keys)
    assert [(h["action"], h["outcome"]) for h in history] == [("notify_admin", "succeeded"), ("reconnect", "failed")]


def test_notify_admin_without_alerting_fails_honestly(redis_url, store, keys, world, trader, monkeypatch):
    import graphwiz_monitoring.health.recovery as recovery

    monkeypatch.setattr(recovery, "alert_manager_for", lambda *a: None)
    world.update(reconnect_works=False)
    report = runner(redis_url, store, keys).run("exchange_connectivity", "r3", {"service": "exchange"})
    assert [a.outcome for a in report.attempts] == ["failed", "failed"] and report.successful is False
    assert "alerting is not available" in report.attempts[1].reason


def test_no_acknowledgement_is_a_timeout(redis_url, store, keys, report):
    report()  # a trader is registered as live, but nobody listens on the control stream
    touch_trader(store, keys, "silent", "token", pid=1, host="h", first=True)
    rep = runner(redis_url, store, keys, ack_timeout_seconds=0.3).run("agent_health", "r4", {"failing": ["a"]})
    assert [(a.action, a.outcome) for a in rep.attempts] == [("restart", "timeout")]
    assert "no acknowledgement" in rep.attempts[0].reason and rep.successful is False
    assert rep.attempts[0].traders == {"silent": {"outcome": "timeout", "reason": "no acknowledgement within 0.3s"}}


def test_missing_method_is_not_supported(redis_url, store, keys, world, report):
    report()
    deps = Dependencies(**{**dependencies(world), "trading_engine": object()})
    listener = start_listener(store, keys, ControlListener(store, keys, deps, identity="t", action_timeout=2,
                                                           block_ms=100))
    try:
        rep = runner(redis_url, store, keys).run("api_rate_limits", "r5", {"service": "exchange"})
    finally:
        listener.stop()
    assert [(a.action, a.outcome) for a in rep.attempts] == [("scale_down", "failed"), ("pause_trading", "succeeded")]
    assert rep.attempts[0].reason == "not supported by trading_engine (no scale_down())"
    assert "no pause()" in rep.attempts[1].reason and is_trading_paused(store, keys)


def test_pause_trading_sets_persistent_flag_and_pauses_engine(redis_url, store, keys, world, trader):
    world.update(positions=30, leverage=5)
    rep = runner(redis_url, store, keys).run("portfolio_health", "r6", {"message": "leverage 5"})
    assert [(a.action, a.outcome) for a in rep.attempts] == [("pause_trading", "succeeded")]
    assert world.called("trading_engine.pause") == [()]
    status = trading_pause_status(store, keys)
    assert status["paused"] and status["by"] == "recovery:portfolio_health" and "leverage 5" in status["reason"]
    assert store.r.ttl(keys.trading_paused) == -1  # no TTL: survives restarts


def test_pause_that_raises_is_failed_but_flag_stays(redis_url, store, keys, world, trader):
    world.update(pause_works=False)
    rep = runner(redis_url, store, keys).run("portfolio_health", "r7", {})
    assert rep.attempts[0].outcome == "failed" and "engine refused to pause" in rep.attempts[0].reason
    assert rep.attempts[1].outcome == "skipped"  # close_positions disabled by default
    assert is_trading_paused(store, keys)


def test_close_positions_only_when_enabled_and_once_per_window(redis_url, store, keys, world, report, tmp_path):
    world.update(pause_works=False)
    report()
    allowing = settings_for(redis_url, allow_close_positions=True, close_positions_window_seconds=60).recovery
    trader = start_listener(store, keys, ControlListener(store, keys, Dependencies(**dependencies(world)), identity="t",
                                                         recovery=allowing, state_dir=tmp_path, block_ms=100))
    run = runner(redis_url, store, keys, allow_close_positions=True, close_positions_window_seconds=60)
    first = run.run("portfolio_health", "r8", {})
    assert [a.outcome for a in first.attempts] == ["failed", "succeeded"]
    assert world.called("trading_engine.close_all_positions") == [()]
    second = run.run("portfolio_health", "r9", {})
    assert second.attempts[1].outcome == "skipped" and "already ran within" in second.attempts[1].reason
    assert len(world.called("trading_engine.close_all_positions")) == 1
    trader.stop()


def test_dry_run_executes_nothing(redis_url, store, keys, world, trader):
    rep = runner(redis_url, store, keys, dry_run=True).run("exchange_connectivity", "r10", {"service": "exchange"})
    assert [(a.action, a.outcome) for a in rep.attempts] == [("reconnect", "dry_run"), ("notify_admin", "dry_run")]
    assert rep.successful is None and world.calls == []
    assert recovery_counts(store, keys) == {("reconnect", "dry_run"): 1, ("notify_admin", "dry_run"): 1}


def test_stale_or_absent_trader_skips_trader_actions(redis_url, store, keys):
    rep = runner(redis_url, store, keys).run("agent_health", "r11", {})
    assert rep.attempts[0].outcome == "skipped" and "no trader" in rep.attempts[0].reason
    rep = runner(redis_url, store, keys).run("portfolio_health", "r12", {"trader_stale": True})
    assert [a.outcome for a in rep.attempts] == ["skipped", "skipped"]
    assert not is_trading_paused(store, keys)  # a stale trader must not pause trading by itself


def test_redelivered_recovery_reuses_outcomes(redis_url, store, keys, world, trader):
    world.update(reconnect_works=False)
    run = runner(redis_url, store, keys, alerts=RecordingAlerts())
    first = run.run("exchange_connectivity", "same-id", {"failing": ["binance"], "service": "exchange"})
    again = run.run("exchange_connectivity", "same-id", {"failing": ["binance"], "service": "exchange"})
    assert [a.to_dict() for a in again.attempts] == [a.to_dict() for a in first.attempts]
    assert len(world.called("exchange_manager.reconnect")) == 1
    assert recovery_counts(store, keys) == {("reconnect", "failed"): 1, ("notify_admin", "succeeded"): 1}
    assert store.r.llen(keys.recovery_history) == 2


def test_trader_dedups_a_resent_command(store, keys, world, report):
    report()
    listener = ControlListener(store, keys, Dependencies(**dependencies(world)), identity="t", action_timeout=2)
    listener.touch()  # live from here on: its group exists
    command = Command(id="cmd-1", action="reconnect", check="exchange_connectivity", service="exchange",
                      targets=["binance"], ttl_ms=5000)
    send_command(store, keys, command)
    send_command(store, keys, command)  # the worker was redelivered and sent it again
    assert listener.poll_once(block_ms=100) == 2
    assert len(world.called("exchange_manager.reconnect")) == 1
    answer = result_of(store, keys, "cmd-1")
    assert answer["outcome"] == "succeeded" and answer["refused_duplicates"] == 1  # the first outcome stays


def test_listener_survives_restart_and_reads_its_pending_entries(store, keys, world):
    first = ControlListener(store, keys, Dependencies(**dependencies(world)), identity="t")
    first.touch()
    send_command(store, keys, Command(id="p1", action="clear_cache", ttl_ms=5000))
    # read but crash before acknowledging: the entry stays pending in this identity's group
    store.r.xreadgroup("trader:t", "listener", {keys.control_stream: ">"}, count=10)
    second = ControlListener(store, keys, Dependencies(**dependencies(world)), identity="t")  # same trader, restarted
    second.poll_once(block_ms=100)
    assert world.called("neo4j_graph.clear_cache") == [()]
    assert store.r.xpending(keys.control_stream, "trader:t")["pending"] == 0


def test_concurrent_recovery_of_same_check_runs_once(redis_url, store, keys, world, trader):
    store.r.set(keys.recovery_lock("agent_health"), "other-run", ex=30)
    rep = runner(redis_url, store, keys).run("agent_health", "r13", {"failing": ["a"]})
    assert rep.attempts == [] and "under way" in rep.note and world.calls == []


def test_recovery_events_published(redis_url, store, keys, world, trader):
    pubsub = store.r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(keys.events)
    world.update(agents={"a": "crashed"})
    runner(redis_url, store, keys).run("agent_health", "r14", {"failing": ["a"]})
    got: list = []
    wait_until(lambda: (m := pubsub.get_message(timeout=0.05)) and got.append(json.loads(m["data"]))
               or any(e["type"] == "recovery" for e in got), message="recovery event")
    event = next(e for e in got if e["type"] == "recovery")["data"]
    assert event["action"] == "restart" and event["outcome"] == "succeeded" and event["targets"] == ["a"]
    assert world.called("agent_manager.restart_agent") == [("a",)]
    pubsub.close()


def test_resume_command_clears_flag(store, keys, world, report):
    set_trading_paused(store, keys, True, reason="test")
    listener = ControlListener(store, keys, Dependencies(**dependencies(world)), identity="t")
    assert listener.apply_pause_flag() is True and world.called("trading_engine.pause") == [()]
    result = listener.handle(Command(id="resume-1", action="resume_trading"))
    assert result["outcome"] == "succeeded" and not is_trading_paused(store, keys)
    assert world.called("trading_engine.resume") == [()]
