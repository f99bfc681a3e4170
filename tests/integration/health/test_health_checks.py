"""Every check, every status it can return, with real probes (loopback HTTP, Redis, psutil, Bolt refused)."""

from __future__ import annotations

import sys
import time

import pytest

from graphwiz_monitoring.config import DEFAULT_CHECKS, parse_settings
from graphwiz_monitoring.health.checks import CHECKS, run_check
from graphwiz_monitoring.health.models import HealthStatus as S
from tests.conftest import free_port


def cfg(redis_url: str, **sections) -> object:
    return parse_settings({"redis": {"url": redis_url}, **sections}, env={})


def judge(redis_url, store, keys, name, **sections):
    return run_check(cfg(redis_url, **sections), store, keys, name)


def thresholds(name: str, **values) -> dict:
    return {"health_checks": {"checks": {name: {"thresholds": values}}}}


def stale(redis_url: str) -> dict:
    return {"health_checks": {"trader_stale_seconds": 0.2}}


def test_every_configured_check_has_an_implementation():
    assert set(CHECKS) == set(DEFAULT_CHECKS)


# ------------------------------------------------------------------ exchange_connectivity


def probes(*servers, timeout: float = 2.0, **named) -> dict:
    urls = {f"ex{i}": s.url for i, s in enumerate(servers)}
    urls.update(named)
    return {"health_checks": {"probes": {"exchanges": urls, "timeout_seconds": timeout}}}


def test_exchanges_not_configured(redis_url, store, keys):
    r = judge(redis_url, store, keys, "exchange_connectivity")
    assert r.status is S.NOT_CONFIGURED and "exchange" in r.message


def test_exchanges_probes_healthy_with_real_latency(redis_url, store, keys, status_servers):
    a, b = status_servers(), status_servers()
    a.delay = 0.3
    a.body = b"x" * 5  # the original reported content-length as latency: 5 would be absurd here
    r = judge(redis_url, store, keys, "exchange_connectivity", **probes(a, b))
    assert r.status is S.HEALTHY, r.message
    probe = r.details["exchanges"]["ex0"]["probe"]
    assert 0.3 <= probe["latency_seconds"] < 2.0
    assert r.details["failing"] == [] and a.hits == 1 and b.hits == 1


def test_exchanges_probes_degraded_and_unhealthy(redis_url, store, keys, status_servers):
    a, b = status_servers(), status_servers()
    b.status = 503
    r = judge(redis_url, store, keys, "exchange_connectivity", **probes(a, b))
    assert r.status is S.DEGRADED and r.details["failing"] == ["ex1"]
    assert r.details["exchanges"]["ex1"]["probe"]["error"] == "HTTP 503"
    a.status = 500
    closed = f"http://127.0.0.1:{free_port()}/status?apikey=SECRET123"
    r = judge(redis_url, store, keys, "exchange_connectivity", **probes(a, b, dead=closed))
    assert r.status is S.UNHEALTHY and r.details["failing"] == ["dead", "ex0", "ex1"]
    assert r.details["exchanges"]["dead"]["probe"]["error"] == "connection failed"
    assert "SECRET123" not in str(r.to_dict())  # status URLs may carry keys: never in results


def test_exchange_probe_timeout_is_a_failure(redis_url, store, keys, status_servers):
    slow = status_servers()
    slow.delay = 1.0
    r = judge(redis_url, store, keys, "exchange_connectivity", **probes(slow, timeout=0.2))
    assert r.status is S.UNHEALTHY and "timed out" in r.details["exchanges"]["ex0"]["probe"]["error"]


def test_exchanges_from_trader_reports(redis_url, store, keys, world, report):
    world.update(exchanges={"binance": {"connected": True}, "kraken": {"connected": True}})
    report()
    assert judge(redis_url, store, keys, "exchange_connectivity").status is S.HEALTHY
    world.update(exchanges={"binance": {"connected": True}, "kraken": {"connected": False}})
    report()
    r = judge(redis_url, store, keys, "exchange_connectivity")
    assert r.status is S.DEGRADED and r.details["failing"] == ["kraken"] and r.details["service"] == "exchange"
    world.update(exchanges={"binance": {"connected": False}, "kraken": {"connected": False}})
    report()
    assert judge(redis_url, store, keys, "exchange_connectivity").status is S.UNHEALTHY


def test_probe_up_but_trader_disconnected_counts_as_down(redis_url, store, keys, world, report, status_servers):
    server = status_servers()
    world.update(exchanges={"ex0": {"connected": False}})
    report()
    r = judge(redis_url, store, keys, "exchange_connectivity", **probes(server))
    assert r.status is S.UNHEALTHY and r.details["failing"] == ["ex0"]


def test_exchanges_stale_trader_is_unhealthy(redis_url, store, keys, report):
    report()
    time.sleep(0.3)
    r = judge(redis_url, store, keys, "exchange_connectivity", **stale(redis_url))
    assert r.status is S.UNHEALTHY and r.details["trader_stale"] is True
    assert "has not reported" in r.message


# ------------------------------------------------------------------ neo4j_connectivity


def bolt(uri: str) -> dict:
    return {"health_checks": {"probes": {"neo4j": {"uri": uri, "password": "pw-SECRET"}, "timeout_seconds": 2}}}


def test_neo4j_not_configured(redis_url, store, keys):
    r = judge(redis_url, store, keys, "neo4j_connectivity")
    assert r.status is S.NOT_CONFIGURED


def test_neo4j_bolt_probe_against_closed_port_is_unhealthy(redis_url, store, keys):
    started = time.monotonic()
    r = judge(redis_url, store, keys, "neo4j_connectivity", **bolt(f"bolt://127.0.0.1:{free_port()}"))
    assert r.status is S.UNHEALTHY, r.message
    assert "ServiceUnavailable" in r.details["sources"]["probe"]["error"]
    assert time.monotonic() - started < 10
    assert "pw-SECRET" not in str(r.to_dict())


def test_neo4j_driver_missing_is_not_configured(redis_url, store, keys, monkeypatch):
    monkeypatch.setitem(sys.modules, "neo4j", None)  # what an install without the extra looks like
    r = judge(redis_url, store, keys, "neo4j_connectivity", **bolt("bolt://127.0.0.1:7687"))
    assert r.status is S.NOT_CONFIGURED and "neo4j driver not installed" in r.message


def test_neo4j_from_trader_graph(redis_url, store, keys, world, report):
    report()
    r = judge(redis_url, store, keys, "neo4j_connectivity")
    assert r.status is S.HEALTHY and r.details["sources"]["trader"]["ok"] is True
    world.update(neo4j_connected=False)
    report()
    r = judge(redis_url, store, keys, "neo4j_connectivity")
    assert r.status is S.UNHEALTHY and "bolt connection lost" in r.message and r.details["service"] == "neo4j"


def test_neo4j_stale_trader(redis_url, store, keys, report):
    report()
    time.sleep(0.3)
    assert judge(redis_url, store, keys, "neo4j_connectivity", **stale(redis_url)).status is S.UNHEALTHY


# ------------------------------------------------------------------ api_rate_limits


@pytest.mark.parametrize("remaining,expected", [(100, S.HEALTHY), (51, S.HEALTHY), (50, S.DEGRADED),
                                                (11, S.DEGRADED), (10, S.UNHEALTHY), (0, S.UNHEALTHY)])
def test_rate_limits_ladder(redis_url, store, keys, world, report, remaining, expected):
    world.update(exchanges={"binance": {"connected": True, "rate_limit_remaining": 500},
                            "kraken": {"connected": True, "rate_limit_remaining": remaining}})
    report()
    r = judge(redis_url, store, keys, "api_rate_limits")
    assert r.status is expected and r.details["remaining"]["kraken"] == remaining
    assert ("kraken" in r.details["failing"]) is (expected is not S.HEALTHY)


def test_rate_limits_custom_thresholds(redis_url, store, keys, world, report):
    world.update(exchanges={"binance": {"connected": True, "rate_limit_remaining": 100}})
    report()
    r = judge(redis_url, store, keys, "api_rate_limits", **thresholds("api_rate_limits", healthy_above=200,
                                                                        degraded_above=150))
    assert r.status is S.UNHEALTHY


def test_rate_limits_not_configured_and_stale(redis_url, store, keys, world, report):
    assert judge(redis_url, store, keys, "api_rate_limits").status is S.NOT_CONFIGURED
    world.update(exchanges={"binance": {"connected": True}})  # no rate limit reported
    report()
    assert judge(redis_url, store, keys, "api_rate_limits").status is S.NOT_CONFIGURED
    time.sleep(0.3)
    assert judge(redis_url, store, keys, "api_rate_limits", **stale(redis_url)).status is S.UNHEALTHY


# ------------------------------------------------------------------ system_resources (real psutil)


def test_system_resources_ladder(redis_url, store, keys):
    # thresholds around real readings: memory and disk are always above 0 %, nothing is above 100 %
    r = judge(redis_url, store, keys, "system_resources",
              **thresholds("system_resources", cpu_percent=100, memory_percent=100, disk_percent=100))
    assert r.status is S.HEALTHY and r.details["over"] == []
    assert 0 < r.details["values"]["memory_percent"] <= 100
    r = judge(redis_url, store, keys, "system_resources",
              **thresholds("system_resources", cpu_percent=100, memory_percent=0, disk_percent=100))
    assert r.status is S.DEGRADED and r.details["over"] == ["memory_percent"]
    r = judge(redis_url, store, keys, "system_resources",
              **thresholds("system_resources", cpu_percent=100, memory_percent=0, disk_percent=0))
    assert r.status is S.UNHEALTHY and r.details["over"] == ["memory_percent", "disk_percent"]
    assert "over threshold: memory " in r.message and "% > 0%, disk " in r.message and "_percent" not in r.message


# ------------------------------------------------------------------ disk_space (real disks)


@pytest.mark.parametrize("limits,expected", [
    ((100, 100, 100), S.HEALTHY), ((0, 100, 100), S.DEGRADED), ((0, 0, 100), S.UNHEALTHY), ((0, 0, 0), S.CRITICAL),
])
def test_disk_space_ladder(redis_url, store, keys, limits, expected):
    degraded, unhealthy, critical = limits
    r = judge(redis_url, store, keys, "disk_space", **thresholds(
        "disk_space", degraded_percent=degraded, unhealthy_percent=unhealthy, critical_percent=critical))
    assert r.status is expected
    assert r.details["mount"] in r.details["disks"] and 0 < r.details["percent"] <= 100


def test_disk_space_default_thresholds_judge_the_fullest_disk(redis_url, store, keys):
    r = judge(redis_url, store, keys, "disk_space")
    used = r.details["percent"]
    expected = S.CRITICAL if used > 95 else S.UNHEALTHY if used > 90 else S.DEGRADED if used > 80 else S.HEALTHY
    assert r.status is expected and used == max(r.details["disks"].values())


# ------------------------------------------------------------------ agent_health


@pytest.mark.parametrize("agents,expected,failing", [
    ({"a": "running", "b": "running", "c": "idle"}, S.HEALTHY, []),
    ({"a": "running", "b": "running", "c": "crashed"}, S.DEGRADED, ["c"]),
    ({"a": "running", "b": "error", "c": "running", "d": {"healthy": False}}, S.UNHEALTHY, ["b", "d"]),
    ({"a": "stopped"}, S.UNHEALTHY, ["a"]),
])
def test_agent_health_ladder(redis_url, store, keys, world, report, agents, expected, failing):
    world.update(agents=agents)
    report()
    r = judge(redis_url, store, keys, "agent_health")
    assert r.status is expected and r.details["failing"] == failing


def test_agent_health_not_configured_and_stale(redis_url, store, keys, report):
    report(exclude=("agent_manager",))
    assert judge(redis_url, store, keys, "agent_health").status is S.NOT_CONFIGURED
    report()
    time.sleep(0.3)
    assert judge(redis_url, store, keys, "agent_health", **stale(redis_url)).status is S.UNHEALTHY


# ------------------------------------------------------------------ portfolio_health


@pytest.mark.parametrize("state,expected,over", [
    ({"drawdown": 0.05, "leverage": 1.5, "positions": 4}, S.HEALTHY, []),
    ({"drawdown": 0.20, "leverage": 1.5, "positions": 4}, S.DEGRADED, ["drawdown"]),
    ({"drawdown": 0.05, "leverage": 4.0, "positions": 25}, S.UNHEALTHY, ["leverage", "positions"]),
    ({"drawdown": 0.30, "leverage": 5.0, "positions": 30}, S.UNHEALTHY, ["drawdown", "leverage", "positions"]),
])
def test_portfolio_health_ladder(redis_url, store, keys, world, report, state, expected, over):
    world.update(**state)
    report()
    r = judge(redis_url, store, keys, "portfolio_health")
    assert r.status is expected and r.details["over"] == over


def test_portfolio_health_message_is_words_and_percent(redis_url, store, keys, world, report):
    """Issue 16: the status page showed "drawdown 0.133378": a fraction and no limit."""
    world.update(drawdown=0.133378, leverage=4.0, positions=3)
    report()
    r = judge(redis_url, store, keys, "portfolio_health")
    assert r.message == ("drawdown 13.3% (limit 15%), leverage 4.00x (limit 3x), 3 open positions (limit 20); "
                         "over the limit: leverage")


def test_portfolio_not_configured_and_stale(redis_url, store, keys, report):
    report(exclude=("trading_engine",))
    r = judge(redis_url, store, keys, "portfolio_health")
    assert r.status is S.NOT_CONFIGURED
    report()
    time.sleep(0.3)
    assert judge(redis_url, store, keys, "portfolio_health", **stale(redis_url)).status is S.UNHEALTHY


# ------------------------------------------------------------------ database_locks


def test_database_locks(redis_url, store, keys, world, report):
    world.update(active_transactions=10)
    report()
    r = judge(redis_url, store, keys, "database_locks")
    assert r.status is S.HEALTHY and r.details["counts"] == {"trading_engine": 10, "neo4j_graph": 0}
    world.update(active_transactions=11)
    report()
    assert judge(redis_url, store, keys, "database_locks").status is S.UNHEALTHY
    r = judge(redis_url, store, keys, "database_locks", **thresholds("database_locks", max_active_transactions=20))
    assert r.status is S.HEALTHY


def test_database_locks_not_configured_and_stale(redis_url, store, keys, report):
    assert judge(redis_url, store, keys, "database_locks").status is S.NOT_CONFIGURED
    report(exclude=("trading_engine", "neo4j_graph"))
    assert judge(redis_url, store, keys, "database_locks").status is S.NOT_CONFIGURED
    report()
    time.sleep(0.3)
    assert judge(redis_url, store, keys, "database_locks", **stale(redis_url)).status is S.UNHEALTHY


def test_exchange_manager_that_raises_is_unhealthy(redis_url, store, keys):
    from graphwiz_monitoring.trader.dependencies import Dependencies
    from graphwiz_monitoring.trader.reporter import StatusReporter

    class Broken:
        def get_status(self):
            raise RuntimeError("exchange layer crashed")

    StatusReporter(store, keys, Dependencies(exchange_manager=Broken()), 1, host="h").report_once()
    r = judge(redis_url, store, keys, "exchange_connectivity")
    assert r.status is S.UNHEALTHY and "exchange layer crashed" in r.message and r.details["failing"] == []


def test_exchange_manager_without_exchanges_is_not_configured(redis_url, store, keys, world, report):
    world.update(exchanges={})
    report()
    r = judge(redis_url, store, keys, "exchange_connectivity")
    assert r.status is S.NOT_CONFIGURED and "lists no exchanges" in r.message


def test_disk_space_with_no_measurable_disk_is_not_configured(redis_url, store, keys, monkeypatch):
    from graphwiz_monitoring.health import checks

    monkeypatch.setattr(checks, "probe_disks", dict)  # a host where no file system can be read
    r = judge(redis_url, store, keys, "disk_space")
    assert r.status is S.NOT_CONFIGURED and "no disk" in r.message
