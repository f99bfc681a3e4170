"""HealthChecker against real Redis: breaker gating, storage, events, transition alerts, recovery hand-off."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.alerting.models import AlertSeverity, AlertState
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import ValidationError
from graphwiz_monitoring.health.checker import HealthChecker
from graphwiz_monitoring.health.models import HealthStatus as S
from tests.conftest import wait_until


class RecordingAlerts:
    """Stands in for the alerting area's AlertManager (only the call health makes)."""

    def __init__(self) -> None:
        self.alerts: list[dict] = []

    def open_episode(self, rule, fingerprint, title, message, severity, channels=None, metadata=None, labels=None):
        self.alerts.append({"title": title, "message": message, "severity": severity, "metadata": metadata})
        return f"alert-{rule}"

    def close_episode(self, rule, fingerprint):
        return None


def make(redis_url, store, keys, *, alerts=None, dispatched=None, **sections):
    settings = parse_settings({"redis": {"url": redis_url},
                               "circuit_breakers": {"failure_threshold": 3, "recovery_timeout_seconds": 0.3},
                               **sections}, env={})

    def dispatch(check, recovery_id, payload):
        dispatched.append((check, recovery_id, payload))

    return HealthChecker(settings, store, keys, alert_manager=alerts or RecordingAlerts(),
                         dispatch_recovery=dispatch if dispatched is not None else None)


def test_unknown_check_is_rejected(redis_url, store, keys):
    with pytest.raises(ValidationError, match="unknown health check"):
        make(redis_url, store, keys).check_now("nope")
    with pytest.raises(ValidationError) as err:  # a hostile task argument: rejected, and not echoed whole
        make(redis_url, store, keys).check_now(["x" * 100_000])
    assert len(str(err.value)) < 400


def test_results_stored_with_bounded_history_and_events(redis_url, store, keys, world, report):
    report()
    checker = make(redis_url, store, keys)
    pubsub = store.r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(keys.events)
    for _ in range(3):
        checker.check_now("agent_health")
    latest = checker.latest("agent_health")
    assert latest.status is S.HEALTHY and latest.details["breaker"] == "closed"
    assert [r.status for r in checker.history("agent_health")] == [S.HEALTHY] * 3
    assert store.r.llen(keys.health_history("agent_health")) == 3
    events = []
    wait_until(lambda: (m := pubsub.get_message(timeout=0.05)) and events.append(json.loads(m["data"]))
               or len(events) >= 3, message="health events")
    assert {e["type"] for e in events} == {"health"} and events[0]["data"]["check"] == "agent_health"
    assert events[0]["data"]["changed"] is True and events[1]["data"]["changed"] is False
    pubsub.close()


def test_a_bad_check_is_one_alert_episode_resolved_when_healthy_again(redis_url, store, keys, world, report):
    settings = parse_settings({"redis": {"url": redis_url}, "alerts": {"cooldowns": {"warning": 0.3}}}, env={})
    sent: list = []
    manager = AlertManager(store, keys, settings, dispatch=lambda a, c, k: sent.append((a, c, k)))
    checker = make(redis_url, store, keys, alerts=manager)
    world.update(agents={"a": "running", "b": "running", "c": "running"})
    report()
    checker.check_now("agent_health")  # first judgement healthy: nothing to say
    assert manager.get_active_alerts() == [] and sent == []
    world.update(agents={"a": "running", "b": "running", "c": "crashed"})
    report()
    checker.check_now("agent_health")
    (alert,) = manager.get_active_alerts()
    assert (alert.rule_name, alert.fingerprint, alert.labels) == ("health:agent_health", "agent_health",
                                                                 {"check": "agent_health"})
    assert alert.severity is AlertSeverity.WARNING and alert.title == "Health check agent_health is degraded"
    checker.check_now("agent_health")  # still bad: the same alert, no new notification within the cooldown
    assert [a.alert_id for a in manager.get_active_alerts()] == [alert.alert_id]
    world.update(agents={"a": "crashed", "b": "crashed", "c": "crashed"})
    report()
    time.sleep(0.35)
    checker.check_now("agent_health")  # worse, past the cooldown: the same episode repeats its notification
    assert [a.alert_id for a in manager.get_active_alerts()] == [alert.alert_id]
    assert {k for _, _, k in sent} == {"firing", "repeat-1"}
    world.update(agents={"a": "running", "b": "running", "c": "running"})
    report()
    checker.check_now("agent_health")  # healthy again: the episode resolves (no longer firing in history)
    assert manager.get_active_alerts() == []
    (stored,) = manager.get_alert_history()
    assert stored.alert_id == alert.alert_id and stored.state is AlertState.RESOLVED
    assert [k for _, _, k in sent].count("resolved") == 1


def test_breaker_opens_skips_check_and_recovery_then_trial_closes(redis_url, store, keys, world, report):
    dispatched: list = []
    checker = make(redis_url, store, keys, dispatched=dispatched)
    world.update(agents={"a": "crashed"})
    report()
    for i in range(3):
        r = checker.check_now("agent_health")
        assert r.status is S.UNHEALTHY and r.recovery_attempted
        assert r.details["breaker"] == ("open" if i == 2 else "closed")
    assert len(dispatched) == 3 and dispatched[0][0] == "agent_health"
    assert dispatched[0][2]["failing"] == ["a"] and dispatched[0][2]["status"] == "unhealthy"
    # open: the check is not run and recovery is not retried
    r = checker.check_now("agent_health")
    assert r.status is S.CIRCUIT_OPEN and "circuit open" in r.message and not r.recovery_attempted
    assert r.details["judged_status"] == "unhealthy" and len(dispatched) == 3
    assert checker.check_now("agent_health").details["judged_status"] == "unhealthy"  # carried over
    summary = checker.get_health_summary()
    assert summary["status"] == "unhealthy" and summary["checks"]["agent_health"]["breaker"]["state"] == "open"
    # after the recovery timeout one trial runs; the agent is fine again: closed
    world.update(agents={"a": "running"})
    report()
    time.sleep(0.35)
    r = checker.check_now("agent_health")
    assert r.status is S.HEALTHY and r.details["trial"] is True and r.details["breaker"] == "closed"
    assert checker.get_circuit_breaker_status()["agent_health"]["state"] == "closed"


def test_failed_trial_reopens_without_recovery_storm_and_manual_reset(redis_url, store, keys, world, report):
    dispatched: list = []
    checker = make(redis_url, store, keys, dispatched=dispatched)
    world.update(agents={"a": "crashed"})
    report()
    for _ in range(3):
        checker.check_now("agent_health")
    time.sleep(0.35)
    trial = checker.check_now("agent_health")
    assert trial.status is S.UNHEALTHY and trial.details["trial"] and trial.details["breaker"] == "open"
    assert checker.check_now("agent_health").status is S.CIRCUIT_OPEN
    assert len(dispatched) == 4  # one recovery per trial at most while the breaker is open
    status = checker.reset_circuit_breaker("agent_health")
    assert status["state"] == "closed" and status["failures"] == 0
    assert checker.check_now("agent_health").status is S.UNHEALTHY


def test_not_configured_is_not_a_failure(redis_url, store, keys):
    dispatched: list = []
    checker = make(redis_url, store, keys, dispatched=dispatched)
    for _ in range(5):
        assert checker.check_now("agent_health").status is S.NOT_CONFIGURED
    assert checker.breaker("agent_health").status().failures == 0 and not dispatched


def test_recovery_not_dispatched_when_disabled(redis_url, store, keys, world, report):
    dispatched: list = []
    checker = make(redis_url, store, keys, dispatched=dispatched, recovery={"enabled": False})
    world.update(agents={"a": "crashed"})
    report()
    assert not checker.check_now("agent_health").recovery_attempted and not dispatched


def test_run_all_and_json_summary(redis_url, store, keys, report):
    report()
    checker = make(redis_url, store, keys,
                   health_checks={"checks": {"system_resources": {"enabled": False}}})
    results = asyncio.run(checker.run_all_health_checks())
    assert set(results) == set(checker.check_names) and "system_resources" not in results
    assert results["agent_health"].status is S.HEALTHY
    assert asyncio.run(checker.run_health_check("neo4j_connectivity")).status is S.HEALTHY
    summary = json.loads(json.dumps(checker.get_health_summary()))
    assert summary["trader"]["host"] == "trader-host" and summary["trader"]["stale"] is False
    assert summary["redis"]["ok"] is True and summary["trading"]["paused"] is False
    assert summary["checks"]["agent_health"]["status"] == "healthy"
    assert set(summary["checks"]) == set(checker.check_names)


def test_summary_before_any_run(redis_url, store, keys):
    summary = make(redis_url, store, keys).get_health_summary()
    assert summary["status"] == "unknown" and summary["trader"] is None
    assert summary["checks"]["disk_space"]["status"] is None


def test_transition_goes_through_the_real_alert_manager(redis_url, store, keys, world, report):
    from graphwiz_monitoring.alerting.manager import AlertManager
    from graphwiz_monitoring.health.alerts import alert_manager_for

    settings = parse_settings({"redis": {"url": redis_url}}, env={})
    assert isinstance(alert_manager_for(settings, store, keys), AlertManager)
    handed: list = []
    manager = AlertManager(store, keys, settings, dispatch=lambda *a: handed.append(a))
    world.update(agents={"a": "crashed"})
    report()
    HealthChecker(settings, store, keys, alert_manager=manager).check_now("agent_health")
    (alert_id, channel, kind), = handed  # only the log channel is active in a bare config
    assert (channel, kind) == ("log", "firing")
    stored = json.loads(store.r.get(keys.alert(alert_id)))
    assert stored["severity"] == "critical" and stored["metadata"]["check"] == "agent_health"
    assert stored["title"] == "Health check agent_health is unhealthy"


def test_a_crashing_check_is_a_failing_check(redis_url, store, keys, monkeypatch):
    from graphwiz_monitoring.health import checks

    def boom(ctx):
        raise RuntimeError("probe exploded")

    monkeypatch.setitem(checks.CHECKS, "disk_space", boom)
    checker = make(redis_url, store, keys)
    result = checker.check_now("disk_space")
    assert result.status is S.UNHEALTHY and "RuntimeError: probe exploded" in result.message
    assert checker.breaker("disk_space").status().failures == 1
