"""Issue 11, finding 9: a check failing only because the trader stopped reporting says nothing about the
checked service, so it must not count toward that service's breaker (real Redis, real reports)."""

from __future__ import annotations

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.guards.breaker import BreakerState
from graphwiz_monitoring.health.checker import HealthChecker
from graphwiz_monitoring.health.models import HealthStatus as S
from graphwiz_monitoring.health.trader_report import read_trader_report
from tests.conftest import wait_until

STALE_SECONDS = 0.3
THRESHOLD = 2
CHECKS = ("exchange_connectivity", "agent_health", "portfolio_health", "database_locks", "neo4j_connectivity",
          "api_rate_limits")


def checker(redis_url, store, keys, recovery_timeout: float = 300) -> HealthChecker:
    settings = parse_settings({
        "redis": {"url": redis_url},
        "health_checks": {"trader_stale_seconds": STALE_SECONDS},
        "circuit_breakers": {"failure_threshold": THRESHOLD, "recovery_timeout_seconds": recovery_timeout},
    }, env={})
    return HealthChecker(settings, store, keys)


def wait_stale(store, keys) -> None:
    wait_until(lambda: read_trader_report(store, keys, STALE_SECONDS).stale, timeout=5, message="trader stale")


def test_breakers_outlive_the_cause_not_absent_trader_keeps_them_closed_and_its_return_shows_the_real_status(
        redis_url, store, keys, world, report) -> None:
    hc = checker(redis_url, store, keys)
    report()
    assert all(hc.check_now(name).status is S.HEALTHY for name in CHECKS)

    wait_stale(store, keys)  # the trader is gone
    for _ in range(3 * THRESHOLD):
        for name in CHECKS:
            result = hc.check_now(name)
            assert result.status is S.UNHEALTHY and result.details["trader_stale"], (name, result.message)
            assert result.details["breaker"] == "closed", (name, result.details)
    assert result.details["breaker_counted"] is False  # said in the result, for operators
    for name in CHECKS:
        status = hc.breaker(name).status()
        assert status.state is BreakerState.CLOSED and status.failures == 0, status

    # The trader is back: the very next run of each check says what the service really is.
    world.update(agents={"momentum": "crashed"})
    report()
    results = {name: hc.check_now(name) for name in CHECKS}
    assert {n: r.status for n, r in results.items()} == {**{n: S.HEALTHY for n in CHECKS},
                                                         "agent_health": S.UNHEALTHY}
    assert results["agent_health"].message == "1/1 agents failing: momentum"


def test_breakers_outlive_the_cause_not_real_failures_still_open_the_breaker(redis_url, store, keys, world,
                                                                             report) -> None:
    hc = checker(redis_url, store, keys)
    world.update(agents={"momentum": "crashed"})
    report()
    counted = hc.check_now("agent_health")
    wait_stale(store, keys)
    absent = hc.check_now("agent_health")  # absent in between: neither a failure nor a success
    assert hc.breaker("agent_health").status().failures == 1
    assert counted.details["breaker_counted"] is True and absent.details["breaker_counted"] is False
    report()
    result = hc.check_now("agent_health")
    assert result.details["breaker"] == "open" and hc.breaker("agent_health").status().failures == THRESHOLD
    assert hc.check_now("agent_health").status is S.CIRCUIT_OPEN


def test_breakers_outlive_the_cause_not_a_trial_while_the_trader_is_absent_hands_the_trial_back(
        redis_url, store, keys, world, report) -> None:
    hc = checker(redis_url, store, keys, recovery_timeout=0.2)
    world.update(agents={"momentum": "crashed"})
    report()
    for _ in range(THRESHOLD):
        hc.check_now("agent_health")
    assert hc.breaker("agent_health").status().state is BreakerState.OPEN
    wait_stale(store, keys)
    wait_until(lambda: hc.check_now("agent_health").status is not S.CIRCUIT_OPEN, timeout=5,
               message="the half-open trial")
    breaker = hc.breaker("agent_health").status()
    assert breaker.state is BreakerState.HALF_OPEN and breaker.failures == THRESHOLD  # the trial told nothing
    # The trial was handed back: the next run is a trial at once (not after the trial lease), and with the
    # trader back and the agent fixed it closes the breaker.
    world.update(agents={"momentum": "running"})
    report()
    result = hc.check_now("agent_health")
    assert result.status is S.HEALTHY and result.details["trial"] is True and result.details["breaker"] == "closed"
