"""The health area's Prometheus families, read from real Redis and rendered by prometheus_client."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from graphwiz_monitoring.config import CircuitBreakerSettings
from graphwiz_monitoring.exporter.health_families import health_families
from graphwiz_monitoring.guards.breaker import CircuitBreaker
from graphwiz_monitoring.health.checker import HealthChecker
from graphwiz_monitoring.health.pause import set_trading_paused


def scrape(store, keys) -> dict[tuple[str, tuple], float]:
    class Collector:
        def collect(self):
            return health_families(store, keys)

    registry = CollectorRegistry()
    registry.register(Collector())
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_families(store, keys, settings, world, report):
    world.update(agents={"a": "crashed"})
    report()
    checker = HealthChecker(settings, store, keys, alert_manager=object())
    checker.check_now("agent_health")
    checker.check_now("database_locks")
    breaker = CircuitBreaker(store, keys, "discord", CircuitBreakerSettings(failure_threshold=2))
    breaker.record_failure()
    breaker.record_failure()
    store.r.hincrby(keys.recovery_counts, "reconnect|succeeded", 2)
    set_trading_paused(store, keys, True, reason="test")
    m = scrape(store, keys)
    assert m[("graphwiz_health_status", (("check", "agent_health"),))] == 2
    assert m[("graphwiz_health_status", (("check", "database_locks"),))] == 0
    assert m[("graphwiz_health_check_last_run_timestamp_seconds", (("check", "agent_health"),))] > 1.6e9
    assert m[("graphwiz_circuit_breaker_state", (("name", "discord"),))] == 2
    assert m[("graphwiz_circuit_breaker_state", (("name", "agent_health"),))] == 0
    assert m[("graphwiz_circuit_breaker_failures", (("name", "discord"),))] == 2
    assert m[("graphwiz_circuit_breaker_failures", (("name", "agent_health"),))] == 1
    assert m[("graphwiz_recovery_actions_total", (("action", "reconnect"), ("outcome", "succeeded")))] == 2
    assert m[("graphwiz_trading_paused", ())] == 1


def test_empty_state(store, keys):
    m = scrape(store, keys)
    assert m == {("graphwiz_trading_paused", ()): 0}


def test_registered_in_the_exporters_collector(store, keys, settings):
    from prometheus_client import generate_latest

    from graphwiz_monitoring.exporter.collector import PROVIDERS, GraphwizCollector

    assert "graphwiz_monitoring.exporter.health_families:health_families" in PROVIDERS
    CircuitBreaker(store, keys, "slack", CircuitBreakerSettings(failure_threshold=1)).record_failure()
    registry = CollectorRegistry()
    registry.register(GraphwizCollector(store, keys, settings))
    text = generate_latest(registry).decode()
    assert 'graphwiz_circuit_breaker_state{name="slack"} 2.0' in text
    assert "graphwiz_trading_paused 0.0" in text
    assert 'graphwiz_exporter_provider_errors_total{provider="graphwiz_monitoring.exporter.health_families' not in text
