"""Pure pieces of the health area: no Redis, no network."""

from __future__ import annotations

import asyncio
import time

import pytest

from graphwiz_monitoring.alerting.models import AlertSeverity
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import RecoveryError
from graphwiz_monitoring.exporter.health_families import _rank
from graphwiz_monitoring.guards.breaker import BreakerState
from graphwiz_monitoring.health.alerts import transition_alert
from graphwiz_monitoring.health.checker import judged_status, recovery_payload
from graphwiz_monitoring.health.commands import Command
from graphwiz_monitoring.health.models import HealthResult
from graphwiz_monitoring.health.models import HealthStatus as S
from graphwiz_monitoring.trader.dependencies import Dependencies, NotSupported, call, method_of
from graphwiz_monitoring.trader.reporter import StatusPoller


class Alerts:
    def __init__(self) -> None:
        self.got: list = []

    def open_episode(self, rule, fingerprint, title, message, severity, channels=None, metadata=None, labels=None):
        assert rule == f"health:{fingerprint}" and labels == {"check": fingerprint}
        self.got.append(("open", severity))
        return "id"

    def close_episode(self, rule, fingerprint):
        self.got.append(("close", None))


@pytest.mark.parametrize("previous,current,expected", [
    (None, S.HEALTHY, ("close", None)),
    (None, S.DEGRADED, ("open", AlertSeverity.WARNING)),
    (S.HEALTHY, S.UNHEALTHY, ("open", AlertSeverity.CRITICAL)),
    (S.UNHEALTHY, S.CRITICAL, ("open", AlertSeverity.EMERGENCY)),
    (S.CRITICAL, S.CRITICAL, ("open", AlertSeverity.EMERGENCY)),  # still bad: the episode goes on
    (S.CRITICAL, S.HEALTHY, ("close", None)),
    (S.HEALTHY, S.NOT_CONFIGURED, None),
    (S.UNHEALTHY, S.CIRCUIT_OPEN, None),
])
def test_transition_alert_feeds_the_check_episode(previous, current, expected):
    alerts = Alerts()
    transition_alert(alerts, "x", previous, current, "msg")
    assert alerts.got == ([expected] if expected else [])


def test_transition_without_alert_manager_only_logs(caplog):
    assert transition_alert(None, "x", S.HEALTHY, S.UNHEALTHY, "down") is None
    assert "no alert manager" in caplog.text


def test_judged_status_looks_through_circuit_open():
    open_result = HealthResult("c", S.CIRCUIT_OPEN, "open", {"judged_status": "critical"})
    assert judged_status(open_result) is S.CRITICAL
    assert judged_status(HealthResult("c", S.DEGRADED, "")) is S.DEGRADED
    assert judged_status(None) is None
    assert _rank(open_result.to_dict()) == 3 and _rank({"status": "not_configured"}) == -1
    assert _rank({"status": "garbage"}) == -1


def test_recovery_payload_is_small_and_plain():
    result = HealthResult("exchange_connectivity", S.UNHEALTHY, "m" * 2000,
                          {"failing": ["a"], "service": "exchange", "exchanges": {"a": {"probe": "big"}}})
    payload = recovery_payload(result)
    assert payload == {"status": "unhealthy", "message": "m" * 500, "failing": ["a"], "service": "exchange",
                       "trader_stale": False}


def test_breaker_gauge_values():
    assert [s.gauge for s in (BreakerState.CLOSED, BreakerState.HALF_OPEN, BreakerState.OPEN)] == [0, 1, 2]


def test_command_round_trip_and_age():
    cmd = Command(id="c1", action="reconnect", check="exchange_connectivity", service="exchange",
                  targets=["binance"], params={"factor": 0.5}, ttl_ms=3000)
    back = Command.from_entry("1700000000000-0", cmd.fields())
    assert (back.id, back.action, back.service, back.targets, back.params, back.ttl_ms) == (
        "c1", "reconnect", "exchange", ["binance"], {"factor": 0.5}, 3000)
    assert back.age_ms(1700000002500) == 2500
    with pytest.raises(ValueError):
        Command.from_entry("1-0", {"id": "x", "action": "a", "targets": '{"not": "a list"}'})
    with pytest.raises(KeyError):
        Command.from_entry("1-0", {"action": "a"})


def test_call_sync_async_timeout_and_missing():
    assert call(lambda x: x + 1, 1) == 2

    async def coro(x):
        await asyncio.sleep(0)
        return x * 2

    assert call(coro, 4) == 8
    started = time.monotonic()
    with pytest.raises(RecoveryError, match="did not return within"):
        call(time.sleep, 3, timeout=0.2)
    assert time.monotonic() - started < 1
    with pytest.raises(ZeroDivisionError):
        call(lambda: 1 / 0)
    deps = Dependencies(trading_engine=object())
    with pytest.raises(NotSupported, match="no exchange_manager given to set_dependencies"):
        method_of(deps, "exchange_manager", "reconnect")
    with pytest.raises(NotSupported, match=r"not supported by trading_engine \(no pause\(\)\)"):
        method_of(deps, "trading_engine", "pause")


def test_poller_interprets_duck_typed_objects():
    class Engine:
        positions = {"BTC": 1, "ETH": 2}
        active_transactions = 4

        def get_risk_metrics(self):
            return {"leverage": "2.5", "current_drawdown": 0.12}

    class Agents:
        class A:
            def __init__(self, status):
                self.status = status
                self.failures = [1, 2]

        agents = {"ok": A("Running"), "bad": A("stopped")}

    poller = StatusPoller(Dependencies(trading_engine=Engine(), agent_manager=Agents()), timeout=1)
    assert poller.trading() == {"positions": 2, "active_transactions": 4, "leverage": 2.5, "drawdown": 0.12,
                                "paused": None}
    assert poller.agents() == {"ok": {"healthy": True, "status": "Running", "failures": 2},
                               "bad": {"healthy": False, "status": "stopped", "failures": 2}}
    assert poller.exchanges() is None and poller.neo4j() is None


def test_trader_and_worker_dispatch_recovery_with_an_expiry_and_time_limits_sized_to_the_actions() -> None:
    from graphwiz_monitoring.celery.sender import CeleryTaskSender
    from graphwiz_monitoring.health.checker import HealthChecker

    sent: list[tuple[str, dict]] = []

    class App:
        def send_task(self, name, **options):
            sent.append((name, options))

    settings = parse_settings({"recovery": {"ack_timeout_seconds": 40}}, env={})
    # The checker's recovery dispatch as the trader and the workers build it: from their one TaskSender.
    checker = HealthChecker(settings, store=None, keys=None, sender=CeleryTaskSender(App()))  # type: ignore[arg-type]
    checker.dispatch_recovery("exchange_connectivity", "rid-1", {"status": "critical"})
    ((name, options),) = sent
    actions = len(settings.health_checks.checks["exchange_connectivity"].recovery)
    assert name == "workers.recovery.run_recovery" and options["args"] == ("exchange_connectivity", "rid-1",
                                                                            {"status": "critical"})
    # Each action may wait 40 s for the trader: the task must not be killed by the 50/60 s defaults.
    assert options["soft_time_limit"] == 40 * actions + 20 and options["time_limit"] == 40 * actions + 30
    assert options["expires"] >= 60 and options["retry"] is False
