"""`graphwiz-monitoring health | breaker list|reset | trading pause|resume|status` against real Redis."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from graphwiz_monitoring import context
from graphwiz_monitoring.cli import main
from graphwiz_monitoring.config import CONFIG_ENV_VAR
from graphwiz_monitoring.guards.breaker import BreakerState, CircuitBreaker
from graphwiz_monitoring.health.pause import is_trading_paused
from graphwiz_monitoring.trader.control import ControlListener
from graphwiz_monitoring.trader.dependencies import Dependencies
from tests.conftest import write_config
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
    listener = ControlListener(store, keys, Dependencies(**dependencies(world)), identity="t", block_ms=100)
    listener.start()
    try:
        out = cli("trading", "pause", "--reason", "maintenance")
        assert "trading paused" in out and "trader: succeeded" in out
        assert world.called("trading_engine.pause") == [()]
        assert cli("trading", "status").startswith("PAUSED") and "maintenance" in cli("trading", "status")
        out = cli("trading", "resume")
        assert "trader: succeeded" in out and world.called("trading_engine.resume") == [()]
    finally:
        listener.stop()
    assert json.loads(cli("trading", "status", "--json"))["paused"] is False


def test_trading_pause_without_trader_still_sets_flag(cli, store, keys):
    out = cli("trading", "pause", "--wait", "0.2")
    assert "no answer" in out and is_trading_paused(store, keys)


def test_health_summary(cli, report):
    report()
    out = cli("health", "--run")
    assert "agent_health" in out and "trader: trader-host" in out
    summary = json.loads(cli("health", "--json"))
    assert summary["checks"]["agent_health"]["status"] == "healthy"
