"""End to end: a real trader process (TradingMonitor over steerable plain objects) beside real Celery
worker and beat processes. Health checks run on the beat schedule, recovery commands travel over the
Redis control stream, the trader executes them and answers honestly.
"""

from __future__ import annotations

import json
import time

import pytest

from graphwiz_monitoring.health.pause import trading_pause_status
from graphwiz_monitoring.health.recovery import recovery_history
from graphwiz_monitoring.health.trader_report import read_trader_report
from tests.conftest import wait_until, write_config
from tests.fakes.trader_process import TraderProcess
from tests.fakes.trader_world import World

pytestmark = pytest.mark.e2e

INTERVAL_SECONDS = 2.0
OTHER_CHECKS = ("neo4j_connectivity", "api_rate_limits", "system_resources", "disk_space", "agent_health",
                "database_locks")


def config_extra(tmp_path, *checks: str) -> str:
    disabled = "".join(f"    {c}: {{enabled: false}}\n" for c in OTHER_CHECKS + tuple(
        c for c in ("exchange_connectivity", "portfolio_health") if c not in checks))
    enabled = "".join(f"    {c}: {{interval_seconds: {INTERVAL_SECONDS}}}\n" for c in checks)
    return (f"trader:\n  poll_interval_seconds: 0.2\n  heartbeat_interval_seconds: 0.5\n"
            f"  journal_dir: {tmp_path / 'journal'}\n"
            f"health_checks:\n  trader_stale_seconds: 1.0\n  checks:\n{enabled}{disabled}"
            f"recovery:\n  ack_timeout_seconds: 3\n"
            f"circuit_breakers:\n  failure_threshold: 50\n")


def latest(store, keys, check: str) -> dict | None:
    raw = store.r.hget(keys.health_latest, check)
    return json.loads(raw) if raw else None


def attempts(store, keys, action: str, outcome: str | None = None) -> list[dict]:
    return [a for a in recovery_history(store, keys, 1000)
            if a["action"] == action and (outcome is None or a["outcome"] == outcome)]


@pytest.fixture
def stack(tmp_path, redis_url, store, keys, celery_processes):
    """Start trader + worker + beat for the given checks; yields (trader, world)."""
    started: list[TraderProcess] = []

    def start(*checks: str, **world_state) -> tuple[TraderProcess, World]:
        extra = config_extra(tmp_path, *checks)
        config = write_config(tmp_path / "trader.yaml", redis_url, extra)
        trader = TraderProcess(tmp_path, config, redis_url)
        world = World(world_state, state_path=str(trader.state_path))
        trader.start()
        started.append(trader)
        wait_until(lambda: read_trader_report(store, keys, 5), timeout=30, message="first trader heartbeat")
        celery_processes("worker", "-Q", "health,recovery,ingest,notify.log", "-c", "2", "--loglevel", "INFO",
                         config_extra=extra)
        celery_processes("beat", "--loglevel", "INFO", config_extra=extra)
        return trader, world

    yield start
    for trader in started:
        trader.kill()


def test_failing_exchange_is_reconnected_in_the_trader_and_a_dead_trader_is_unhealthy(stack, store, keys):
    trader, world = stack("exchange_connectivity", reconnect_works=False)
    wait_until(lambda: (r := latest(store, keys, "exchange_connectivity")) and r["status"] == "healthy",
               timeout=30, message="exchange_connectivity healthy")

    # the exchange drops and the trader's reconnect() raises: recorded as failed, with the real reason
    world.update(exchanges={"binance": {"connected": False, "rate_limit_remaining": 100}})
    failed = wait_until(lambda: attempts(store, keys, "reconnect", "failed"), timeout=30,
                        message="a failed reconnect")[0]
    assert "ConnectionError: cannot reach binance" in failed["reason"], failed
    assert failed["check"] == "exchange_connectivity" and failed["targets"] == ["binance"]
    executed = trader.calls("exchange_manager.reconnect")
    assert executed and executed[0]["args"] == ["binance"] and executed[0]["pid"] == trader.pid
    # reconnect did not help, so the next action ran: the admin was notified through alerting
    wait_until(lambda: attempts(store, keys, "notify_admin", "succeeded"), timeout=30, message="notify_admin")

    # now reconnect() works: recorded as succeeded, the exchange is back, the check turns healthy
    world.update(reconnect_works=True)
    ok = wait_until(lambda: attempts(store, keys, "reconnect", "succeeded"), timeout=30,
                    message="a succeeded reconnect")[0]
    assert ok["details"]["calls"] == [{"call": "exchange_manager.reconnect('binance')", "ok": True}]
    wait_until(lambda: latest(store, keys, "exchange_connectivity")["status"] == "healthy", timeout=30,
               message="healthy again after the reconnect")
    assert world.state["exchanges"]["binance"]["connected"] is True

    # the trader dies: reported unhealthy within two check intervals
    trader.kill()
    died = time.time()
    stale = wait_until(lambda: (r := latest(store, keys, "exchange_connectivity")) and r["details"].get("trader_stale")
                       and r, timeout=30, message="stale trader reported")
    assert stale["status"] == "unhealthy" and "has not reported" in stale["message"]
    assert stale["timestamp"] - died <= 2 * INTERVAL_SECONDS, stale["timestamp"] - died
    # recovery does not talk to a dead trader
    wait_until(lambda: any("trader not reporting" in a["reason"] for a in attempts(store, keys, "reconnect", "skipped")),
               timeout=30, message="reconnect skipped for a stale trader")


def test_portfolio_breach_pauses_trading_and_the_flag_survives_restarts(stack, store, keys, redis_server):
    trader, world = stack("portfolio_health")
    wait_until(lambda: (r := latest(store, keys, "portfolio_health")) and r["status"] == "healthy",
               timeout=30, message="portfolio_health healthy")
    world.update(positions=30, leverage=5.0)
    wait_until(lambda: attempts(store, keys, "pause_trading", "succeeded"), timeout=30, message="pause_trading")
    paused = trading_pause_status(store, keys)
    assert paused["paused"] and paused["by"] == "recovery:portfolio_health"
    assert [c["pid"] for c in trader.calls("trading_engine.pause")] == [trader.pid]
    wait_until(lambda: (trader.status() or {}).get("paused") is True, message="monitor.is_trading_paused()")

    # the breach ends; no further pause is requested once the check is healthy
    world.update(positions=3, leverage=1.0)
    wait_until(lambda: latest(store, keys, "portfolio_health")["status"] == "healthy", timeout=30,
               message="portfolio healthy")
    since = trading_pause_status(store, keys)["since"]

    # restart the trader: the new process still sees the flag and pauses its engine at start
    trader.stop()
    trader.start()
    wait_until(lambda: (s := trader.status()) and s["pid"] == trader.pid and s["paused"] is True, timeout=30,
               message="restarted trader sees the pause")
    wait_until(lambda: trader.pid in [c["pid"] for c in trader.calls("trading_engine.pause")], timeout=30,
               message="restarted trader pauses its engine")

    # restart Redis (AOF on): the flag is still there, untouched
    redis_server.restart()
    trader.status_path.unlink(missing_ok=True)
    wait_until(lambda: (s := trader.status()) and s["paused"] is True, timeout=30,
               message="trader sees the pause after the Redis restart")
    after = trading_pause_status(store, keys)
    assert after["paused"] and after["since"] == since
    assert store.r.ttl(keys.trading_paused) == -1
