"""`graphwiz-monitoring health | breaker list|reset | trading pause|resume|status` against real Redis."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from graphwiz_monitoring import context
from graphwiz_monitoring.cli import main
from graphwiz_monitoring.config import CONFIG_ENV_VAR
from graphwiz_monitoring.guards.breaker import BreakerState, CircuitBreaker
from graphwiz_monitoring.health.commands import live_traders
from graphwiz_monitoring.health.pause import is_trading_paused
from graphwiz_monitoring.trader.control import ControlListener
from graphwiz_monitoring.trader.dependencies import Dependencies
from tests.conftest import wait_until, write_config
from tests.fakes.trader_world import dependencies


@pytest.fixture
def cli(tmp_path, redis_url, monkeypatch):
    config = write_config(tmp_path / "monitoring.yaml", redis_url)
    monkeypatch.setenv(CONFIG_ENV_VAR, str(config))
    monkeypatch.delenv("GRAPHWIZ_REDIS_URL", raising=False)
    context.reset()

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    yield invoke
    context.reset()


def test_breaker_list_and_reset(cli, store, keys):
    breaker = CircuitBreaker(store, keys, "exchange_connectivity")
    for _ in range(3):
        breaker.record_failure("refused")
    listed = json.loads(cli("breaker", "list", "--json"))
    assert listed[0]["name"] == "exchange_connectivity" and listed[0]["state"] == "open"
    assert "refused" in cli("breaker", "list")
    assert cli("breaker", "reset", "exchange_connectivity").strip() == "exchange_connectivity: closed"
    assert breaker.status().state is BreakerState.CLOSED


def test_trading_pause_resume_status_with_a_live_trader(cli, store, keys, world, report):
    report()
    listener = ControlListener(store, keys, Dependencies(**dependencies(world)), identity="t", block_ms=100,
                               host="box")
    listener.start()
    try:
        wait_until(lambda: "t" in live_traders(store, keys, 30), message="trader live")
        out = cli("trading", "pause", "--reason", "maintenance")
        assert "trading paused" in out and "trader t (box pid " in out and "): succeeded: trading_engine.pause()" in out
        assert world.called("trading_engine.pause") == [()]
        status = cli("trading", "status")
        assert status.startswith("PAUSED") and "maintenance" in status and "live traders: t (box pid " in status
        assert [t["identity"] for t in json.loads(cli("trading", "status", "--json"))["traders"]] == ["t"]
        out = cli("trading", "resume")
        assert "): succeeded: trading_engine.resume()" in out and world.called("trading_engine.resume") == [()]
    finally:
        listener.stop()
    assert json.loads(cli("trading", "status", "--json"))["paused"] is False


def test_trading_pause_without_trader_still_sets_flag(cli, store, keys):
    out = cli("trading", "pause", "--wait", "0.2")
    assert "traders: none live" in out and is_trading_paused(store, keys)


def test_health_summary(cli, report):
    report()
    out = cli("health", "--run")
    assert "agent_health" in out and "trader: trader-host" in out
    summary = json.loads(cli("health", "--json"))
    assert summary["checks"]["agent_health"]["status"] == "healthy"
