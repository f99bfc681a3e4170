"""Circuit breaker against a real Redis: transitions, trial lease, reset, and one trial across processes."""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest

from graphwiz_monitoring.config import CircuitBreakerSettings
from graphwiz_monitoring.guards.breaker import (
    BreakerState,
    CircuitBreaker,
    list_breakers,
    reset_circuit_breaker,
)
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import wait_until

FAST = CircuitBreakerSettings(failure_threshold=3, recovery_timeout_seconds=0.2, trial_timeout_seconds=30)
HAMMER = CircuitBreakerSettings(failure_threshold=3, recovery_timeout_seconds=0.05, trial_timeout_seconds=30)


def _events(store, keys):
    pubsub = store.r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(keys.events)
    wait_until(lambda: store.r.pubsub_numsub(keys.events)[0][1] >= 1, message="subscription")
    return pubsub


def _breaker_events(pubsub, expected: int) -> list[dict]:
    got: list[dict] = []

    def poll():
        msg = pubsub.get_message(timeout=0.05)
        if msg:
            event = json.loads(msg["data"])
            if event["type"] == "breaker":
                got.append(event["data"])
        return len(got) >= expected

    wait_until(poll, timeout=10, message=f"{expected} breaker events")
    return got


def test_opens_after_threshold_consecutive_failures_and_publishes(store, keys):
    pubsub = _events(store, keys)
    b = CircuitBreaker(store, keys, "svc", FAST)
    for _ in range(2):
        assert b.allow().allowed
        assert b.record_failure("boom") is BreakerState.CLOSED
    b.record_success()  # success resets the consecutive count
    assert b.status().failures == 0
    for _ in range(2):
        b.record_failure("boom")
    assert b.status().state is BreakerState.CLOSED
    assert b.record_failure("third") is BreakerState.OPEN
    decision = b.allow()
    assert not decision.allowed and decision.state is BreakerState.OPEN and not decision.is_trial
    status = b.status()
    assert status.failures == 3 and status.last_error == "third"
    assert status.retry_at == pytest.approx(status.opened_at + 0.2)
    (event,) = _breaker_events(pubsub, 1)
    assert event["name"] == "svc" and event["from"] == "closed" and event["to"] == "open"
    pubsub.close()


def test_half_open_single_trial_then_close_or_reopen(store, keys):
    pubsub = _events(store, keys)
    a = CircuitBreaker(store, keys, "svc", FAST)
    other = CircuitBreaker(store, keys, "svc", FAST)
    for _ in range(3):
        a.record_failure("x")
    time.sleep(0.25)
    trial = a.allow()
    assert trial.allowed and trial.is_trial and trial.state is BreakerState.HALF_OPEN
    denied = other.allow()
    assert not denied.allowed and denied.state is BreakerState.HALF_OPEN
    # a success from a caller that is not the trial holder does not close it
    assert other.record_success() is BreakerState.HALF_OPEN
    assert a.record_failure("still down") is BreakerState.OPEN
    assert not other.allow().allowed  # open again: a fresh timeout starts
    time.sleep(0.25)
    trial = other.allow()
    assert trial.is_trial
    assert other.record_success() is BreakerState.CLOSED
    assert a.allow().allowed and not a.allow().is_trial
    assert a.status().failures == 0 and a.status().trials == 2
    transitions = [(e["from"], e["to"]) for e in _breaker_events(pubsub, 5)]
    assert transitions == [("closed", "open"), ("open", "half_open"), ("half_open", "open"),
                           ("open", "half_open"), ("half_open", "closed")]
    pubsub.close()


def test_crashed_trial_lease_expires(store, keys):
    settings = CircuitBreakerSettings(failure_threshold=1, recovery_timeout_seconds=0.05, trial_timeout_seconds=0.3)
    crashed = CircuitBreaker(store, keys, "svc", settings)
    crashed.record_failure()
    time.sleep(0.1)
    assert crashed.allow().is_trial  # ... and never reports back
    later = CircuitBreaker(store, keys, "svc", settings)
    assert not later.allow().allowed
    time.sleep(0.35)
    decision = later.allow()
    assert decision.allowed and decision.is_trial
    # the crashed holder's late answer no longer counts
    assert crashed.record_success() is BreakerState.HALF_OPEN
    assert later.record_success() is BreakerState.CLOSED


def test_manual_reset_and_listing(store, keys):
    b = CircuitBreaker(store, keys, "exchange_connectivity", FAST)
    CircuitBreaker(store, keys, "discord", FAST).record_success()
    for _ in range(3):
        b.record_failure("down")
    assert [s.name for s in list_breakers(store, keys, FAST)] == ["discord", "exchange_connectivity"]
    assert {s.name: s.state for s in list_breakers(store, keys)}["exchange_connectivity"] is BreakerState.OPEN
    status = reset_circuit_breaker(store, keys, "exchange_connectivity", FAST)
    assert status.state is BreakerState.CLOSED and status.failures == 0
    assert b.allow().allowed
    assert store.r.ttl(keys.breaker("exchange_connectivity")) > 0


def test_unknown_breaker_is_closed(store, keys):
    status = CircuitBreaker(store, keys, "never-used", FAST).status()
    assert status.state is BreakerState.CLOSED and status.failures == 0 and status.opened_at is None


# ------------------------------------------------------------------ several OS processes


def _hammer(url: str, ns: str, start, done, results, rounds: int, tries: int) -> None:
    store = Store(url)
    keys = KeySpace(ns)
    breaker = CircuitBreaker(store, keys, "shared", HAMMER)
    for _ in range(rounds):
        start.wait()
        trials = 0
        for _ in range(tries):
            d = breaker.allow()
            trials += int(d.is_trial)
            assert d.allowed == d.is_trial
        results.put(trials)
        done.wait()
    store.close()


def _fail_together(url: str, ns: str, start, rounds: int) -> None:
    store = Store(url)
    breaker = CircuitBreaker(store, KeySpace(ns), "shared-fail", CircuitBreakerSettings(failure_threshold=3))
    for _ in range(rounds):
        start.wait()
        for _ in range(2):
            breaker.record_failure()
        start.wait()
    store.close()


def test_exactly_one_half_open_trial_across_processes(store, keys, redis_url):
    """Many rounds: the breaker's timeout lapses, three processes race allow(); exactly one gets the trial."""
    ctx = multiprocessing.get_context("fork")
    workers, rounds = 3, 100
    start, done = ctx.Barrier(workers + 1), ctx.Barrier(workers + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(redis_url, keys.namespace, start, done, results, rounds, 5))
             for _ in range(workers)]
    for p in procs:
        p.start()
    breaker = CircuitBreaker(store, keys, "shared", HAMMER)
    try:
        for r in range(rounds):
            breaker.reset()
            for _ in range(3):
                breaker.record_failure()
            time.sleep(0.06)  # the recovery timeout lapses: everybody races for the trial
            start.wait(timeout=30)
            trials = [results.get(timeout=30) for _ in range(workers)]
            assert sum(trials) == 1, f"round {r}: trials per process {trials}"
            done.wait(timeout=30)
    finally:
        for p in procs:
            p.join(timeout=30)
    assert all(p.exitcode == 0 for p in procs)
    assert breaker.status().trials == rounds


def test_concurrent_failures_open_exactly_once(store, keys, redis_url):
    """Six failures from three processes at once: one closed -> open transition, announced once."""
    ctx = multiprocessing.get_context("fork")
    workers, rounds = 3, 20
    start = ctx.Barrier(workers + 1)
    procs = [ctx.Process(target=_fail_together, args=(redis_url, keys.namespace, start, rounds))
             for _ in range(workers)]
    for p in procs:
        p.start()
    breaker = CircuitBreaker(store, keys, "shared-fail", CircuitBreakerSettings(failure_threshold=3))
    pubsub = _events(store, keys)
    try:
        for r in range(rounds):
            breaker.reset()
            start.wait(timeout=30)
            start.wait(timeout=30)
            status = breaker.status()
            assert status.state is BreakerState.OPEN and status.failures == 3, f"round {r}: {status}"
    finally:
        for p in procs:
            p.join(timeout=30)
    assert all(p.exitcode == 0 for p in procs)
    events = _breaker_events(pubsub, 2 * rounds - 1)
    opened = [e for e in events if e["to"] == "open"]
    assert len(opened) == rounds and all(e["from"] == "closed" for e in opened)
    pubsub.close()
