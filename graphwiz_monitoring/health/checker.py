"""HealthChecker: runs a check behind its circuit breaker, stores the result, announces transitions.

One run of ``name``: ask the check's breaker (named after the check); while it is open the check is
not run and the result is CIRCUIT_OPEN (recovery is then not retried either). Otherwise judge
(checks.py), record success/failure on the breaker (unhealthy/critical count as failures, except a
failure caused only by the trader's missing or stale report, which counts neither way), store the
result atomically as the latest (plus a bounded history), publish a HEALTH event, and on a change of
judged status raise an alert through the alerting area. A result that needs recovery is handed to
``dispatch_recovery`` (the worker enqueues ``workers.recovery.run_recovery``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import ValidationError
from graphwiz_monitoring.events import EventType, HealthEvent, publish
from graphwiz_monitoring.guards.breaker import CircuitBreaker, list_breakers
from graphwiz_monitoring.health.alerts import alert_manager_for, transition_alert
from graphwiz_monitoring.health.checks import CHECKS, caused_by_absent_trader, run_check
from graphwiz_monitoring.health.models import HealthResult, HealthStatus
from graphwiz_monitoring.health.pause import trading_pause_status
from graphwiz_monitoring.health.probes import probe_redis
from graphwiz_monitoring.health.recovery import send_recovery
from graphwiz_monitoring.health.trader_report import read_trader_report
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import TaskSender

log = logging.getLogger(__name__)

HISTORY_MAX = 100
JUDGED = (HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY, HealthStatus.CRITICAL)

# (check name, recovery id, what recovery needs to know) -> None
RecoveryDispatcher = Callable[[str, str, dict[str, Any]], None]


def judged_status(result: HealthResult | None) -> HealthStatus | None:
    """The last real judgement behind a result (a CIRCUIT_OPEN result carries the one before it)."""
    if result is None:
        return None
    if result.status is HealthStatus.CIRCUIT_OPEN:
        value = result.details.get("judged_status")
        return HealthStatus(value) if value else None
    return result.status


def recovery_payload(result: HealthResult) -> dict[str, Any]:
    """The small, secret-free part of a result that recovery acts on (task args)."""
    d = result.details
    return {"status": result.status.value, "message": result.message[:500], "failing": list(d.get("failing") or []),
            "service": d.get("service"), "trader_stale": bool(d.get("trader_stale"))}


class HealthChecker:
    """Runs the configured checks; results and breakers live in Redis, so any worker may run any check."""

    def __init__(self, settings: Settings, store: Store, keys: KeySpace, *, alert_manager: Any = None,
                 dispatch_recovery: RecoveryDispatcher | None = None, sender: TaskSender | None = None) -> None:
        """``sender`` enqueues notifications and, unless ``dispatch_recovery`` is given, recovery tasks."""
        self.settings = settings
        self.store = store
        self.keys = keys
        self._alert_manager = alert_manager
        self.sender = sender
        if dispatch_recovery is None and sender is not None:
            dispatch_recovery = functools.partial(send_recovery, sender, settings)
        self.dispatch_recovery = dispatch_recovery

    @property
    def check_names(self) -> list[str]:
        return [n for n, c in self.settings.health_checks.checks.items() if c.enabled and n in CHECKS]

    def _known(self, name: str) -> None:
        if not isinstance(name, str) or name not in CHECKS or name not in self.settings.health_checks.checks:
            shown = repr(name)[:80]  # a hostile 5 MB name must not become a 5 MB log line
            raise ValidationError(f"unknown health check {shown}; known: {sorted(CHECKS)}")

    def breaker(self, name: str) -> CircuitBreaker:
        return CircuitBreaker(self.store, self.keys, name, self.settings.circuit_breakers)

    @property
    def alert_manager(self) -> Any:
        if self._alert_manager is None:
            self._alert_manager = alert_manager_for(self.settings, self.store, self.keys, self.sender)
        return self._alert_manager

    # ------------------------------------------------------------------ running

    async def run_health_check(self, name: str) -> HealthResult:
        """Run one check (probes block, so they run in a thread)."""
        return await asyncio.to_thread(self.check_now, name)

    async def run_all_health_checks(self) -> dict[str, HealthResult]:
        """Run every enabled check concurrently."""
        names = self.check_names
        results = await asyncio.gather(*(self.run_health_check(n) for n in names))
        return dict(zip(names, results, strict=True))

    def check_now(self, name: str) -> HealthResult:
        """The synchronous run used by the worker task."""
        self._known(name)
        breaker = self.breaker(name)
        decision = breaker.allow()
        if not decision.allowed:
            return self._circuit_open(name, breaker)
        started = time.monotonic()
        try:
            result = run_check(self.settings, self.store, self.keys, name)
        except Exception as exc:  # a check that crashes is a failing check, not a silent one
            log.exception("health check %s crashed", name)
            result = HealthResult(name, HealthStatus.UNHEALTHY, f"check failed: {type(exc).__name__}: {exc}"[:500])
        result.details["duration_seconds"] = round(time.monotonic() - started, 6)
        result.details["trial"] = decision.is_trial
        # A trader that stopped reporting is not a failure of the checked service: counted, it opened the
        # breaker, which then kept the check from running for minutes after the trader came back.
        counted = not caused_by_absent_trader(result)
        if not counted:
            state = breaker.release(decision)
        elif result.status.needs_recovery:
            state = breaker.record_failure(result.message, decision)
        else:
            state = breaker.record_success(decision)
        result.details["breaker"] = state.value
        result.details["breaker_counted"] = counted
        recovery_id = self._dispatch(result)
        previous = self._store(result)
        self._announce(previous, result, recovery_id)
        return result

    def _circuit_open(self, name: str, breaker: CircuitBreaker) -> HealthResult:
        status = breaker.status()
        previous = self.latest(name)
        judged = judged_status(previous)
        carried = previous is not None and previous.status is HealthStatus.CIRCUIT_OPEN
        retry = f", next trial after {time.strftime('%H:%M:%S', time.localtime(status.retry_at))}" if status.retry_at else ""
        result = HealthResult(
            name, HealthStatus.CIRCUIT_OPEN,
            f"circuit open after {status.failures} consecutive failures{retry}; check not run",
            {"breaker": status.state.value, "breaker_status": status.to_dict(),
             "judged_status": judged.value if judged else None,
             "judged_message": (previous.details.get("judged_message", "") if carried else previous.message)
             if previous else "",
             "judged_at": (previous.details.get("judged_at") if carried else previous.timestamp) if previous else None},
        )
        self._store(result)
        publish(self.store, self.keys, EventType.HEALTH, self._event(result, judged, changed=False))
        return result

    def _dispatch(self, result: HealthResult) -> str | None:
        if not (result.status.needs_recovery and self.dispatch_recovery and self.settings.recovery.enabled):
            return None
        if not self.settings.health_checks.checks[result.name].recovery:
            return None
        recovery_id = uuid.uuid4().hex
        try:
            self.dispatch_recovery(result.name, recovery_id, recovery_payload(result))
        except Exception as exc:  # broker down: the next failing run tries again
            log.error("recovery for %s not dispatched: %s", result.name, exc)
            return None
        result.recovery_attempted = True
        result.details["recovery_id"] = recovery_id
        return recovery_id

    def _store(self, result: HealthResult) -> HealthResult | None:
        raw = self.store.run_script(
            "health_record", [self.keys.health_latest, self.keys.health_history(result.name)],
            [result.name, json.dumps(result.to_dict(), default=str), HISTORY_MAX])
        return _parse(raw)

    def _event(self, result: HealthResult, previous: HealthStatus | None, changed: bool) -> HealthEvent:
        return {"check": result.name, "status": result.status.value, "message": result.message,
                "previous": previous.value if previous else None, "changed": changed,
                "timestamp": result.timestamp, "breaker": result.details.get("breaker"),
                "recovery_attempted": result.recovery_attempted}

    def _announce(self, previous: HealthResult | None, result: HealthResult, recovery_id: str | None) -> None:
        before, now = judged_status(previous), result.status
        changed = before is not now and now in JUDGED
        publish(self.store, self.keys, EventType.HEALTH, self._event(result, before, changed))
        if changed:
            log.warning("health %s: %s -> %s: %s", result.name, before.value if before else "-", now.value,
                        result.message)
        try:  # every judged result: its alert episode opens, repeats when due, resolves when healthy
            transition_alert(self.alert_manager, result.name, before, now, result.message)
        except Exception:  # alerting trouble must not lose the health result
            log.exception("alert for health transition of %s failed", result.name)

    # ------------------------------------------------------------------ reading

    def latest(self, name: str) -> HealthResult | None:
        return _parse(self.store.r.hget(self.keys.health_latest, name))

    def history(self, name: str, limit: int = 20) -> list[HealthResult]:
        raw = self.store.r.lrange(self.keys.health_history(name), 0, max(0, limit - 1))
        return [r for r in (_parse(x) for x in raw) if r is not None]

    def latest_all(self) -> dict[str, HealthResult]:
        raw = self.store.r.hgetall(self.keys.health_latest) or {}
        recoveries = self.store.r.hgetall(self.keys.health_recovery) or {}
        out = {}
        for name, text in raw.items():
            result = _parse(text)
            if result is None:
                continue
            rec = json.loads(recoveries[name]) if name in recoveries else None
            if rec and rec.get("recovery_id") == result.details.get("recovery_id"):
                result.recovery_attempted = True
                result.recovery_successful = rec.get("successful")
                result.details["recovery"] = rec
            out[name] = result
        return out

    def get_health_summary(self) -> dict[str, Any]:
        """Everything an operator wants at a glance; JSON-serializable."""
        results = self.latest_all()
        breakers = self.get_circuit_breaker_status()
        checks: dict[str, Any] = {}
        worst: HealthStatus | None = None
        for name in self.check_names:
            result = results.get(name)
            entry: dict[str, Any] = (result.to_dict() if result else
                                     {"name": name, "status": None, "message": "not run yet"})
            entry["breaker"] = breakers.get(name, {"state": "closed"})
            checks[name] = entry
            judged = judged_status(result)
            if judged in JUDGED and (worst is None or JUDGED.index(judged) > JUDGED.index(worst)):
                worst = judged
        trader = read_trader_report(self.store, self.keys, self.settings.health_checks.trader_stale_seconds)
        return {
            "status": worst.value if worst else "unknown",
            "timestamp": time.time(),
            "checks": checks,
            "breakers": breakers,
            "trader": trader.summary() if trader else None,
            "trading": trading_pause_status(self.store, self.keys),
            "redis": probe_redis(self.store).to_dict(),
        }

    # ------------------------------------------------------------------ breakers

    def get_circuit_breaker_status(self) -> dict[str, dict[str, Any]]:
        """Every breaker that has been used (checks and channels), by name."""
        return {s.name: s.to_dict() for s in list_breakers(self.store, self.keys, self.settings.circuit_breakers)}

    def reset_circuit_breaker(self, name: str) -> dict[str, Any]:
        breaker = self.breaker(name)
        breaker.reset()
        return breaker.status().to_dict()


def _parse(raw: str | None) -> HealthResult | None:
    if not raw:
        return None
    try:
        return HealthResult.from_dict(json.loads(raw))
    except (ValueError, TypeError, KeyError):
        return None
