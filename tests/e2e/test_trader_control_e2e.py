"""Control stream against real trader processes (TradingMonitor over steerable objects, tests/fakes):
forged commands are judged by the trader's own settings, and a command reaches every live trader.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from graphwiz_monitoring.health.commands import live_traders, read_results
from tests.conftest import wait_until, write_config
from tests.fakes.trader_process import TraderProcess
from tests.fakes.trader_world import World

pytestmark = pytest.mark.e2e


def trader_config(workdir, redis_url, name: str, recovery: str = "") -> str:
    return write_config(workdir / "trader.yaml", redis_url,
                        f"trader:\n  name: {name}\n  poll_interval_seconds: 0.2\n  heartbeat_interval_seconds: 0.5\n"
                        f"  journal_dir: {workdir / 'journal'}\n"
                        f"health_checks:\n  trader_stale_seconds: 2\n"
                        f"recovery:\n  ack_timeout_seconds: 3\n{recovery}")


def start_trader(tmp_path, redis_url, name: str, recovery: str = "", **state) -> TraderProcess:
    workdir = tmp_path / name
    workdir.mkdir(exist_ok=True)
    trader = TraderProcess(workdir, trader_config(workdir, redis_url, name, recovery), redis_url)
    World(state, state_path=str(trader.state_path))
    trader.start()
    return trader


@pytest.fixture
def traders(tmp_path, redis_url):
    started: list[TraderProcess] = []

    def start(name: str, recovery: str = "", **state) -> TraderProcess:
        started.append(start_trader(tmp_path, redis_url, name, recovery, **state))
        return started[-1]

    yield start
    for t in started:
        t.kill()


def forge(store, keys, command_id: str, action: str = "close_positions", **extra: str) -> None:
    """What anyone who can write to Redis can do: one XADD on the control stream."""
    store.r.xadd(keys.control_stream, {"id": command_id, "action": action, "ttl_ms": "10000", **extra})


def wait_live(store, keys, trader: TraderProcess, name: str) -> None:
    """Until this process's control listener is registered (so a command sent now reaches it)."""
    wait_until(lambda: (t := live_traders(store, keys, 5).get(name)) and t.pid == str(trader.pid), timeout=30,
               message=f"trader {name} pid {trader.pid} live")


def ack(store, keys, command_id: str, name: str) -> dict:
    return wait_until(lambda: read_results(store, keys, command_id).get(name), timeout=10,
                      message=f"{name}'s acknowledgement of {command_id}")


def test_forged_close_positions_is_refused_when_not_allowed(traders, store, keys):
    trader = traders("solo")
    wait_live(store, keys, trader, "solo")
    forge(store, keys, "forged-1")
    result = ack(store, keys, "forged-1", "solo")
    assert trader.calls("trading_engine.close_all_positions") == []
    assert result is not None and result["outcome"] == "refused", result
    assert "allow_close_positions" in result["reason"]


def test_forged_close_positions_twice_in_one_window_closes_once_even_across_restarts(traders, store, keys):
    trader = traders("solo", "  allow_close_positions: true\n  close_positions_window_seconds: 3600\n")
    wait_live(store, keys, trader, "solo")
    forge(store, keys, "forged-a")
    assert ack(store, keys, "forged-a", "solo")["outcome"] == "succeeded"
    forge(store, keys, "forged-b")
    second = ack(store, keys, "forged-b", "solo")
    assert len(trader.calls("trading_engine.close_all_positions")) == 1
    assert second["outcome"] == "refused" and "window" in second["reason"], second
    trader.kill()  # a crash, not even a clean stop: the window must still hold
    trader.start()
    wait_live(store, keys, trader, "solo")
    forge(store, keys, "forged-c")
    third = ack(store, keys, "forged-c", "solo")
    assert len(trader.calls("trading_engine.close_all_positions")) == 1
    assert third["outcome"] == "refused" and "window" in third["reason"], third


@pytest.fixture
def cli(tmp_path, redis_url, monkeypatch):
    from graphwiz_monitoring import context
    from graphwiz_monitoring.cli import main

    config = write_config(tmp_path / "cli.yaml", redis_url, "recovery:\n  ack_timeout_seconds: 3\n")
    monkeypatch.delenv("GRAPHWIZ_REDIS_URL", raising=False)
    context.reset()

    def invoke(*args: str):
        return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)

    yield invoke
    context.reset()


def test_several_traders_trading_pause_reaches_every_live_trader(traders, store, keys, cli, redis_url):
    names = ("trader-1", "trader-2", "trader-3")
    fleet = {name: traders(name) for name in names}
    for name, t in fleet.items():
        wait_live(store, keys, t, name)

    result = cli("trading", "pause", "--wait", "5")
    assert result.exit_code == 0, result.output + result.stderr
    for name, t in fleet.items():  # each engine paused once, by its own process, and said so
        assert [c["pid"] for c in t.calls("trading_engine.pause")] == [t.pid], (name, t.calls())
        assert f"trader {name} (" in result.output and f"pid {t.pid}): succeeded: trading_engine.pause()" in \
            result.output, result.output
    assert result.output.count(": succeeded: ") == 3

    result = cli("trading", "resume", "--wait", "5")
    assert result.exit_code == 0 and result.output.count(": succeeded: trading_engine.resume()") == 3, result.output

    # one engine refuses to pause: the CLI names it and exits non-zero; the others still paused
    World(state_path=str(fleet["trader-2"].state_path)).update(pause_works=False)
    result = cli("trading", "pause", "--wait", "5")
    assert result.exit_code == 1, result.output
    assert "trader trader-2 " in result.output and "failed: trading_engine.pause(): RuntimeError: engine refused" \
        in result.output, result.output
    assert result.output.count(": succeeded: trading_engine.pause()") == 2
    assert "1 of 3 live trader(s) did not confirm: trader-2" in result.stderr
    assert len(fleet["trader-1"].calls("trading_engine.pause")) == 2

    # the recovery record lists each trader's outcome too, and is not a success
    from graphwiz_monitoring.config import parse_settings
    from graphwiz_monitoring.health.recovery import RecoveryRunner

    settings = parse_settings({"redis": {"url": redis_url}, "recovery": {"ack_timeout_seconds": 3}}, env={})
    report = RecoveryRunner(settings, store, keys).run("portfolio_health", "fleet-1", {"message": "leverage 5"})
    pause = report.attempts[0]
    assert pause.action == "pause_trading" and pause.outcome == "failed", pause
    assert {n: o["outcome"] for n, o in pause.traders.items()} == \
        {"trader-1": "succeeded", "trader-2": "failed", "trader-3": "succeeded"}
    assert "engine refused to pause" in pause.traders["trader-2"]["reason"]

    # a trader that dies is still awaited while it counts as live: reported as timeout, exit 1
    fleet["trader-3"].kill()
    World(state_path=str(fleet["trader-2"].state_path)).update(pause_works=True)
    result = cli("trading", "pause", "--wait", "2")
    assert result.exit_code == 1 and "trader trader-3 " in result.output and "timeout: no acknowledgement within 2s" \
        in result.output, result.output
    # stopped cleanly instead: no longer live at once, not awaited
    fleet["trader-1"].stop()
    wait_until(lambda: "trader-1" not in live_traders(store, keys, 60), timeout=10, message="trader-1 unregistered")
