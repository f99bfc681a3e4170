"""Circuit breaker end to end: two real worker processes + beat run a probed check against a loopback
status endpoint. While the breaker is open the check does not run (no request reaches the endpoint);
after the recovery timeout exactly one trial runs; success closes it; manual reset via the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest

from graphwiz_monitoring.guards.breaker import BreakerState, CircuitBreaker
from tests.conftest import ROOT, child_env, wait_until, write_config
from tests.fakes.status_server import StatusServer

pytestmark = pytest.mark.e2e

CHECK = "exchange_connectivity"
OTHERS = ("neo4j_connectivity", "api_rate_limits", "system_resources", "disk_space", "agent_health",
          "portfolio_health", "database_locks")


def extra(url: str, recovery_timeout: float) -> str:
    disabled = "".join(f"    {c}: {{enabled: false}}\n" for c in OTHERS)
    return (f"health_checks:\n  probes:\n    timeout_seconds: 0.5\n    exchanges:\n      ex: \"{url}\"\n"
            f"  checks:\n    {CHECK}: {{interval_seconds: 1}}\n{disabled}"
            f"recovery:\n  enabled: false\n"
            f"circuit_breakers:\n  failure_threshold: 3\n  recovery_timeout_seconds: {recovery_timeout}\n"
            f"  trial_timeout_seconds: 5\n")


@pytest.fixture
def server():
    s = StatusServer()
    yield s
    s.close()


@pytest.fixture
def breaker_events(store, keys):
    pubsub = store.r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(keys.events)
    pubsub.get_message(timeout=1.0)  # consume the subscribe confirmation (returned as None)
    got: list[dict] = []

    def drain() -> list[dict]:
        while (msg := pubsub.get_message(timeout=0.01)) is not None:
            event = json.loads(msg["data"])
            if event["type"] == "breaker" and event["data"]["name"] == CHECK:
                got.append({**event["data"], "at": datetime.fromisoformat(event["timestamp"]).timestamp()})
        return got

    yield drain
    pubsub.close()


def start_cluster(celery_processes, config_extra: str) -> list:
    workers = [celery_processes("worker", "-Q", "health", "-c", "1", "-n", f"w{i}@%h", "--loglevel", "INFO",
                                config_extra=config_extra) for i in (1, 2)]
    celery_processes("beat", "--loglevel", "INFO", config_extra=config_extra)
    return workers


def cli(tmp_path, redis_url: str, config_extra: str, *args: str) -> str:
    config = write_config(tmp_path / "cli.yaml", redis_url, config_extra)
    done = subprocess.run([sys.executable, "-m", "graphwiz_monitoring.cli", "--config", str(config), *args],
                          cwd=str(ROOT), env=child_env(config, redis_url, tmp_path / "cli-state"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_transitions_single_trial_and_manual_reset(celery_processes, server, store, keys, breaker_events, tmp_path,
                                                   redis_url):
    server.status = 500
    config_extra = extra(server.url, recovery_timeout=3)
    workers = start_cluster(celery_processes, config_extra)
    # closed -> open after 3 failures; open -> half_open -> open (trial still fails)
    wait_until(lambda: [e["to"] for e in breaker_events()][:3] == ["open", "half_open", "open"], timeout=40,
               message="open, one failed trial, open again")
    server.status = 200
    wait_until(lambda: breaker_events()[-1]["to"] == "closed", timeout=30, message="closed after a good trial")
    events = breaker_events()
    assert [(e["from"], e["to"]) for e in events] == [
        ("closed", "open"), ("open", "half_open"), ("half_open", "open"), ("open", "half_open"),
        ("half_open", "closed")], events
    hits = list(server.hit_times)
    # exactly 3 checks ran before it opened
    assert len([t for t in hits if t <= events[0]["at"]]) == 3
    for opened, trial, ended in ((events[0], events[1], events[2]), (events[2], events[3], events[4])):
        # open: the check is not run; the open period lasts the recovery timeout
        assert [t for t in hits if opened["at"] < t < trial["at"]] == []
        assert trial["at"] - opened["at"] >= 3 - 0.1
        # half-open: exactly one trial reached the endpoint, across both workers
        assert len([t for t in hits if trial["at"] < t < ended["at"]]) == 1
    history = [json.loads(x) for x in store.r.lrange(keys.health_history(CHECK), 0, -1)]
    assert any(h["status"] == "circuit_open" for h in history)
    assert sum(1 for h in history if h["details"].get("trial")) == 2
    breaker = CircuitBreaker(store, keys, CHECK)
    assert breaker.status().trials == 2

    # manual reset through the CLI while it is open
    server.status = 500
    wait_until(lambda: breaker.status().state is not BreakerState.CLOSED, timeout=30, message="open again")
    listed = cli(tmp_path, redis_url, config_extra, "breaker", "list")
    assert CHECK in listed and "open" in listed
    assert f"{CHECK}: closed" in cli(tmp_path, redis_url, config_extra, "breaker", "reset", CHECK)
    server.status = 200
    reset = wait_until(lambda: [e for e in breaker_events() if e["cause"] == "reset"], timeout=10,
                       message="reset event")[0]
    assert reset["to"] == "closed"
    wait_until(lambda: [t for t in server.hit_times if t > reset["at"]], timeout=20, message="check runs after reset")
    wait_until(lambda: json.loads(store.r.hget(keys.health_latest, CHECK))["status"] == "healthy", timeout=20,
               message="healthy after reset")
    assert breaker.status().state is BreakerState.CLOSED
    # both worker processes took part
    assert all("workers.health.run_check" in w.output() for w in workers)
    # the status URL carries a key: it never shows up in results or logs
    assert not any("SECRET123" in w.output() for w in workers)
    assert "SECRET123" not in json.dumps(history)
