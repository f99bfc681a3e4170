"""The trader judges control commands by its own settings (issue 11, findings 1 and 6): a ControlListener
as the trader runs it, commands forged with a plain XADD, real Redis.
"""

from __future__ import annotations

import json
import threading

import pytest

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.health.commands import (
    Command,
    ask_traders,
    live_traders,
    read_results,
    send_command,
)
from graphwiz_monitoring.health.pause import is_trading_paused
from graphwiz_monitoring.trader.close_window import CloseWindow
from graphwiz_monitoring.trader.control import ControlListener
from graphwiz_monitoring.trader.dependencies import Dependencies
from tests.conftest import wait_until
from tests.fakes.trader_world import dependencies


def recovery(**values):
    return parse_settings({"recovery": values}, env={}).recovery


def listener(store, keys, world, tmp_path, identity: str = "t", deps=None, **rec) -> ControlListener:
    made = ControlListener(store, keys, deps or Dependencies(**dependencies(world)), identity=identity,
                           recovery=recovery(**rec), state_dir=tmp_path / "state", action_timeout=2, block_ms=100)
    made.touch()  # live: its consumer group exists, so what is sent from now on reaches it
    return made


def forge(store, keys, command_id: str, action: str, **fields: str) -> None:
    store.r.xadd(keys.control_stream, {"id": command_id, "action": action, "ttl_ms": "10000", **fields})


def answer(store, keys, command_id: str, identity: str = "t") -> dict:
    return read_results(store, keys, command_id)[identity]


def test_forged_close_positions_is_refused_without_the_traders_opt_in(store, keys, world, tmp_path):
    trader = listener(store, keys, world, tmp_path)
    forge(store, keys, "f1", "close_positions")
    trader.poll_once(block_ms=100)
    assert world.called("trading_engine.close_all_positions") == []
    got = answer(store, keys, "f1")
    assert got["outcome"] == "refused" and "recovery.allow_close_positions: false" in got["reason"]
    assert not CloseWindow(tmp_path / "state", "t", 3600).path.exists()  # a refusal uses up no window


def test_forged_close_positions_window_survives_a_new_listener(store, keys, world, tmp_path):
    first = listener(store, keys, world, tmp_path, allow_close_positions=True, close_positions_window_seconds=3600)
    forge(store, keys, "c1", "close_positions")
    forge(store, keys, "c2", "close_positions")
    first.poll_once(block_ms=100)
    assert [answer(store, keys, c)["outcome"] for c in ("c1", "c2")] == ["succeeded", "refused"]
    assert "already ran in this trader" in answer(store, keys, "c2")["reason"]
    store.r.flushall()  # even a forger who wipes Redis cannot reset the trader's own window
    again = listener(store, keys, world, tmp_path, allow_close_positions=True, close_positions_window_seconds=3600)
    forge(store, keys, "c3", "close_positions")
    again.poll_once(block_ms=100)
    assert answer(store, keys, "c3")["outcome"] == "refused"
    assert len(world.called("trading_engine.close_all_positions")) == 1


def test_close_positions_window_is_per_trader_and_ends(tmp_path):
    window = CloseWindow(tmp_path, "a", 60)
    assert window.claim("x", now=1000.0) is None
    assert "at most once per 60s" in window.claim("y", now=1059.0)
    assert CloseWindow(tmp_path, "b", 60).claim("z", now=1001.0) is None  # another trader, its own window
    assert window.claim("y", now=1060.5) is None
    assert "already ran" in window.claim("w", now=900.0)  # the clock went back: still refused (fail closed)
    window.path.write_text("{not json")
    assert "unreadable" in window.claim("v", now=99999.0) and str(window.path) in window.claim("v", now=99999.0)


def test_close_positions_not_supported_uses_up_no_window(store, keys, world, tmp_path):
    deps = Dependencies(**{**dependencies(world), "trading_engine": object()})
    trader = listener(store, keys, world, tmp_path, deps=deps, allow_close_positions=True)
    forge(store, keys, "n1", "close_positions")
    trader.poll_once(block_ms=100)
    assert answer(store, keys, "n1")["outcome"] == "failed"
    assert not trader.close_window.path.exists()


def test_forged_expired_close_positions_is_refused_with_an_answer(store, keys, world, tmp_path):
    trader = listener(store, keys, world, tmp_path, allow_close_positions=True)
    send_command(store, keys, Command(id="old", action="close_positions", ttl_ms=1))
    threading.Event().wait(0.05)
    trader.poll_once(block_ms=100)
    got = answer(store, keys, "old")
    assert got["outcome"] == "refused" and got["reason"].startswith("expired: read ") and "ttl 1 ms" in got["reason"]
    assert world.called("trading_engine.close_all_positions") == []


def test_already_handled_command_id_is_refused_not_executed_again(store, keys, world, tmp_path):
    trader = listener(store, keys, world, tmp_path, allow_close_positions=True, close_positions_window_seconds=1)
    # taken before, but no outcome: the trader stopped while executing it
    store.r.hset(keys.control_claims("taken"), "t", "1700000000.0")
    forge(store, keys, "taken", "close_positions")
    trader.poll_once(block_ms=100)
    got = answer(store, keys, "taken")
    assert got["outcome"] == "refused" and "already taken by this trader" in got["reason"]
    # handled with an outcome: replayed later (window over), still not executed; the first outcome stays
    forge(store, keys, "done", "close_positions")
    trader.poll_once(block_ms=100)
    trader.close_window.path.unlink()
    forge(store, keys, "done", "close_positions")
    trader.poll_once(block_ms=100)
    got = answer(store, keys, "done")
    assert got["outcome"] == "succeeded" and got["refused_duplicates"] == 1
    assert len(world.called("trading_engine.close_all_positions")) == 1


def test_forged_scale_down_uses_the_traders_own_factor(store, keys, world, tmp_path):
    trader = listener(store, keys, world, tmp_path, scale_down_factor=0.5)
    forge(store, keys, "s1", "scale_down", params=json.dumps({"factor": 0.0}))
    trader.poll_once(block_ms=100)
    assert world.called("trading_engine.scale_down") == [(0.5,)]
    got = answer(store, keys, "s1")
    assert got["outcome"] == "succeeded" and got["details"]["ignored_factor"] == 0.0


def test_unknown_action_is_refused(store, keys, world, tmp_path):
    trader = listener(store, keys, world, tmp_path)
    forge(store, keys, "u1", "drop_database")
    trader.poll_once(block_ms=100)
    assert answer(store, keys, "u1")["outcome"] == "refused"


def test_pause_trading_is_allowed_by_default(store, keys, world, tmp_path):
    trader = listener(store, keys, world, tmp_path)
    forge(store, keys, "p1", "pause_trading")
    trader.poll_once(block_ms=100)
    assert answer(store, keys, "p1")["outcome"] == "succeeded" and is_trading_paused(store, keys)


def test_several_traders_a_new_identity_starts_at_the_stream_end(store, keys, world, tmp_path):
    send_command(store, keys, Command(id="before", action="clear_cache", ttl_ms=60_000))
    trader = listener(store, keys, world, tmp_path, identity="late")
    send_command(store, keys, Command(id="after", action="clear_cache", ttl_ms=60_000))
    assert trader.poll_once(block_ms=100) == 1
    assert list(read_results(store, keys, "before")) == [] and list(read_results(store, keys, "after")) == ["late"]


def test_several_traders_each_answer_under_their_own_identity(store, keys, world, tmp_path):
    threads = [listener(store, keys, world, tmp_path, identity=name) for name in ("a", "b")]
    for t in threads:
        t.start()
    try:
        fan = ask_traders(store, keys, Command(id="both", action="clear_cache", ttl_ms=5000), timeout=5,
                          window_seconds=30)
    finally:
        for t in threads:
            t.stop()
    assert fan.confirmed and set(fan.outcomes()) == {"a", "b"}
    assert {o["outcome"] for o in fan.outcomes().values()} == {"succeeded"}
    # stopped cleanly: no longer live
    assert live_traders(store, keys, 30) == {}


def test_several_traders_two_processes_one_name_are_a_conflict(store, keys, world, tmp_path):
    one = listener(store, keys, world, tmp_path, identity="same")
    two = listener(store, keys, world, tmp_path, identity="same")  # another process, the same trader.name
    one.touch()  # finds the other's token: both now flag the conflict
    seen = live_traders(store, keys, 30)["same"]
    assert "two live trader processes answer as 'same'" in seen.conflict and "trader.name" in seen.conflict
    one.start()
    two.start()
    try:
        fan = ask_traders(store, keys, Command(id="dup", action="clear_cache", ttl_ms=5000), timeout=3,
                          window_seconds=30)
    finally:
        one.stop()
        two.stop()
    assert not fan.confirmed and fan.outcomes()["same"]["outcome"] == "failed"


def test_several_traders_none_live_sends_nothing(store, keys):
    fan = ask_traders(store, keys, Command(id="nobody", action="pause_trading"), timeout=1, window_seconds=30)
    assert fan.expected == {} and not fan.confirmed and fan.outcome() == ("skipped", "no live trader")
    assert store.r.xlen(keys.control_stream) == 0


@pytest.mark.parametrize("name", ["", "two words", "-leading", "a" * 101])
def test_trader_name_is_validated(name):
    from graphwiz_monitoring.errors import ConfigError

    with pytest.raises(ConfigError, match="trader.name"):
        parse_settings({"trader": {"name": name}}, env={})


def test_trader_identity_defaults_to_the_host_name(monkeypatch):
    from graphwiz_monitoring.trader.health import trader_identity

    monkeypatch.setenv("GRAPHWIZ_HOST", "box-7")
    assert trader_identity(parse_settings({}, env={})) == "box-7"
    assert trader_identity(parse_settings({"trader": {"name": "alpha"}}, env={})) == "alpha"


def test_several_traders_a_stopped_listener_is_no_longer_live(store, keys, world, tmp_path):
    trader = ControlListener(store, keys, Dependencies(**dependencies(world)), identity="r", block_ms=100)
    trader.start()
    try:
        wait_until(lambda: "r" in live_traders(store, keys, 30), message="registered")
    finally:
        trader.stop()
    assert "r" not in live_traders(store, keys, 30)
