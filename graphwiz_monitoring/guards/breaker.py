"""Circuit breakers held in Redis, shared by every worker (health checks, notification channels).

closed → open after ``failure_threshold`` consecutive failures → half-open after
``recovery_timeout_seconds``, where exactly one caller cluster-wide gets the trial (a lease of
``trial_timeout_seconds``, so a crashed trial cannot wedge the breaker) → closed on the trial's
success, open again on its failure; a call that says nothing about the service (``release``) counts
neither way. Every transition happens inside ``state/scripts/breaker.lua``
(unlike pybreaker's Redis storage, where the threshold check and the trip are separate steps), and
each one is published as a BREAKER realtime event.

Usage::

    breaker = CircuitBreaker(store, keys, "discord", settings.circuit_breakers)
    decision = breaker.allow()
    if not decision.allowed:
        ...  # skip the call: "circuit open"
    try:
        call()
    except Exception as exc:
        breaker.record_failure(str(exc))
    else:
        breaker.record_success()
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from graphwiz_monitoring.config import CircuitBreakerSettings
from graphwiz_monitoring.events import EventType, publish
from graphwiz_monitoring.state import KeySpace, Store

log = logging.getLogger(__name__)

SCRIPT = "breaker"
# A breaker untouched for this long is forgotten, which is the same as closed with no failures.
BREAKER_KEY_TTL_SECONDS = 7 * 24 * 3600
MAX_ERROR_CHARS = 500


class BreakerState(str, Enum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"

    @property
    def gauge(self) -> int:
        """Exported value of graphwiz_circuit_breaker_state: 0 closed, 1 half_open, 2 open."""
        return {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}[self]


@dataclass(frozen=True)
class BreakerDecision:
    """Answer of ``allow()``: may the caller go ahead, and is it the half-open trial."""

    allowed: bool
    state: BreakerState
    is_trial: bool
    failures: int
    token: str


@dataclass(frozen=True)
class BreakerStatus:
    """A breaker's state as stored; ``retry_at`` is when an open breaker hands out its trial."""

    name: str
    state: BreakerState
    failures: int
    opened_at: float | None
    retry_at: float | None
    trials: int
    last_error: str
    updated_at: float | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number or None


def _status(name: str, raw: dict[str, str], settings: CircuitBreakerSettings) -> BreakerStatus:
    state = BreakerState(raw.get("state") or "closed")
    opened_at = _float(raw.get("opened_at"))
    return BreakerStatus(
        name=name,
        state=state,
        failures=int(raw.get("failures") or 0),
        opened_at=opened_at,
        retry_at=opened_at + settings.recovery_timeout_seconds if state is BreakerState.OPEN and opened_at else None,
        trials=int(raw.get("trials") or 0),
        last_error=raw.get("last_error") or "",
        updated_at=_float(raw.get("updated_at")),
    )


class CircuitBreaker:
    """One named breaker. Cheap to create; all state lives in Redis."""

    def __init__(self, store: Store, keys: KeySpace, name: str, settings: CircuitBreakerSettings | None = None) -> None:
        self.store = store
        self.keys = keys
        self.name = name
        self.settings = settings or CircuitBreakerSettings()
        self._token = ""

    def _run(self, op: str, token: str = "", error: str = "") -> tuple[bool, BreakerState, bool, int]:
        s = self.settings
        raw = self.store.run_script(
            SCRIPT, [self.keys.breaker(self.name), self.keys.breakers],
            [op, self.name, s.failure_threshold, s.recovery_timeout_seconds, s.trial_timeout_seconds,
             token, BREAKER_KEY_TTL_SECONDS, error[:MAX_ERROR_CHARS]],
        )
        allowed, state, trial, failures, previous = int(raw[0]), BreakerState(raw[1]), int(raw[2]), int(raw[3]), raw[4]
        if previous != state.value:
            self._announce(BreakerState(previous), state, failures, op, error)
        return bool(allowed), state, bool(trial), failures

    def _announce(self, old: BreakerState, new: BreakerState, failures: int, op: str, error: str) -> None:
        log.warning("circuit breaker %s: %s -> %s (%s, %d failures)", self.name, old.value, new.value, op, failures)
        publish(self.store, self.keys, EventType.BREAKER, {
            "name": self.name, "from": old.value, "to": new.value, "state": new.value,
            "failures": failures, "cause": op, "error": error[:MAX_ERROR_CHARS],
        })

    def allow(self) -> BreakerDecision:
        """May the protected call run now? Open → no; half-open → only the one trial holder."""
        token = uuid.uuid4().hex
        allowed, state, trial, failures = self._run("allow", token)
        self._token = token
        return BreakerDecision(allowed, state, trial, failures, token)

    def record_success(self, decision: BreakerDecision | None = None) -> BreakerState:
        """The call worked: resets the failure count; the half-open trial's success closes the breaker."""
        return self._run("success", decision.token if decision else self._token)[1]

    def record_failure(self, error: str = "", decision: BreakerDecision | None = None) -> BreakerState:
        """The call failed: counts towards opening; the half-open trial's failure re-opens it."""
        return self._run("failure", decision.token if decision else self._token, error)[1]

    def release(self, decision: BreakerDecision | None = None) -> BreakerState:
        """The call told nothing about the protected service (its input was missing): counts neither way.

        The failure count stays as it was; a half-open trial's lease is handed back, so the next caller
        gets the trial at once instead of after ``trial_timeout_seconds``.
        """
        return self._run("release", decision.token if decision else self._token)[1]

    def reset(self) -> BreakerState:
        """Manual reset: closed, no failures, no trial."""
        return self._run("reset")[1]

    def status(self) -> BreakerStatus:
        return _status(self.name, self.store.r.hgetall(self.keys.breaker(self.name)) or {}, self.settings)


def list_breakers(store: Store, keys: KeySpace, settings: CircuitBreakerSettings | None = None) -> list[BreakerStatus]:
    """Every breaker that has been used (sorted by name)."""
    settings = settings or CircuitBreakerSettings()
    names = sorted(store.r.smembers(keys.breakers) or ())
    if not names:
        return []
    pipe = store.r.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(keys.breaker(name))
    return [_status(name, raw or {}, settings) for name, raw in zip(names, pipe.execute(), strict=True)]


def reset_circuit_breaker(store: Store, keys: KeySpace, name: str,
                          settings: CircuitBreakerSettings | None = None) -> BreakerStatus:
    """Close ``name`` by hand (CLI ``breaker reset NAME``); publishes a BREAKER event if it was not closed."""
    breaker = CircuitBreaker(store, keys, name, settings)
    breaker.reset()
    return breaker.status()
