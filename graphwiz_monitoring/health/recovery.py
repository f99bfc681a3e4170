"""Worker side of recovery: decide, send to the trader, wait for its honest answer, record every attempt.

For a failing check the configured actions run in order until one succeeds. ``notify_admin`` is done
by the worker (an alert); every other action is a command to every live trader over the control
stream (commands.py: ``ask_traders``). The attempt records each trader's outcome (``traders``:
identity -> outcome, reason) and succeeds only when every trader live at sending time succeeded; a
live trader that did not answer within ``recovery.ack_timeout_seconds`` is a ``timeout``, a trader that
would not do it (its own settings) a ``refused``. Outcomes: succeeded | failed | timeout | refused |
skipped | dry_run (all traders agreeing give their outcome; a mix is ``failed``).

Safety rails here: ``close_positions`` only with ``recovery.allow_close_positions`` and at most once
per ``close_positions_window_seconds`` cluster-wide (SET NX EX); ``recovery.dry_run`` records what would
run and runs nothing; trader actions are skipped while no trader is live or the check saw the trader
stale (a stale trader would never answer, and pausing on a mere restart would be wrong). These rails
only save a useless request: each trader enforces its own opt-in and window itself (control.py).

Redelivery: attempt and command ids derive from the recovery id, so a redelivered task reuses the
recorded outcome of an attempt instead of acting again, the trader dedups a re-sent command, and
each attempt is counted once (``recovery_record.lua``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from graphwiz_monitoring import tasks
from graphwiz_monitoring.alerting.models import AlertSeverity
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.events import EventType, RecoveryEvent, publish
from graphwiz_monitoring.health.alerts import alert_manager_for, raise_alert
from graphwiz_monitoring.health.commands import (
    SUCCEEDED,
    Command,
    ask_traders,
    live_traders,
    live_window_seconds,
)
from graphwiz_monitoring.health.models import RecoveryAction
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import TaskSender

log = logging.getLogger(__name__)

def send_recovery(sender: TaskSender, settings: Settings, check: str, recovery_id: str, payload: dict[str, Any]) -> None:
    """Enqueue ``workers.recovery.run_recovery`` with an expiry and time limits sized to the check's actions
    (each may wait ``recovery.ack_timeout_seconds`` for the trader), from a worker or from the trader."""
    config = settings.health_checks.checks[check]
    budget = settings.recovery.ack_timeout_seconds * max(1, len(config.recovery))
    sender.send(tasks.RUN_RECOVERY, (check, recovery_id, payload),
                expires=max(60.0, config.interval_seconds), soft_time_limit=budget + 20, time_limit=budget + 30)


HISTORY_MAX = 1000
RECORD_TTL_SECONDS = 24 * 3600
LOCK_MARGIN_SECONDS = 30
OUTCOMES = ("succeeded", "failed", "timeout", "refused", "skipped", "dry_run")
WORKER_ACTIONS = frozenset({RecoveryAction.NOTIFY_ADMIN})


@dataclass
class RecoveryAttempt:
    attempt_id: str
    recovery_id: str
    check: str
    action: str
    outcome: str
    reason: str = ""
    targets: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    duration_seconds: float = 0.0
    traders: dict[str, dict[str, Any]] = field(default_factory=dict)  # identity -> {outcome, reason}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RecoveryReport:
    recovery_id: str
    check: str
    attempts: list[RecoveryAttempt]
    successful: bool | None  # None: nothing was really tried (dry run, all skipped, already running)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"recovery_id": self.recovery_id, "check": self.check, "successful": self.successful,
                "note": self.note, "attempts": [a.to_dict() for a in self.attempts]}


def release_recovery_lock(store: Store, lock: str, recovery_id: str) -> None:
    """``health_unlock.lua``: release a check's recovery lock, only if this recovery still holds it."""
    store.run_script("health_unlock", [lock], [recovery_id])


def record_attempt_once(store: Store, keys: KeySpace, attempt_id: str, data: dict[str, Any], *, counter: str) -> bool:
    """``recovery_record.lua``: store an attempt, add it to the history and count it, once per attempt id
    (a redelivered task records nothing again); True when this call recorded it."""
    return bool(store.run_script(
        "recovery_record", [keys.recovery_recorded(attempt_id), keys.recovery_history, keys.recovery_counts],
        [json.dumps(data, default=str), counter, HISTORY_MAX, RECORD_TTL_SECONDS]))


class RecoveryRunner:
    def __init__(self, settings: Settings, store: Store, keys: KeySpace, *, alert_manager: Any = None,
                 sender: TaskSender | None = None) -> None:
        self.settings = settings
        self.sender = sender  # enqueues the admin notification of notify_admin
        self.store = store
        self.keys = keys
        self._alert_manager = alert_manager

    def run(self, check: str, recovery_id: str, payload: dict[str, Any] | None = None) -> RecoveryReport:
        """Try the check's recovery actions in order; ``payload`` is checker.recovery_payload()."""
        payload = payload or {}
        actions = list(self.settings.health_checks.checks[check].recovery)
        if not self.settings.recovery.enabled or not actions:
            return RecoveryReport(recovery_id, check, [], None, "recovery disabled or no actions configured")
        lock = self.keys.recovery_lock(check)
        ttl = int(self.settings.recovery.ack_timeout_seconds * len(actions) + LOCK_MARGIN_SECONDS)
        if not self.store.r.set(lock, recovery_id, nx=True, ex=ttl) and self.store.r.get(lock) != recovery_id:
            log.info("recovery of %s skipped: another recovery of it is under way", check)
            return RecoveryReport(recovery_id, check, [], None, "another recovery of this check is under way")
        try:
            attempts = self._run_actions(check, recovery_id, actions, payload)
        finally:
            release_recovery_lock(self.store, lock, recovery_id)
        real = [a for a in attempts if a.outcome not in ("skipped", "dry_run")]
        successful = any(a.outcome == SUCCEEDED for a in attempts) if real else None
        report = RecoveryReport(recovery_id, check, attempts, successful)
        summary = {"recovery_id": recovery_id, "successful": successful, "finished_at": time.time(),
                   "outcomes": [{"action": a.action, "outcome": a.outcome, "reason": a.reason,
                                 **({"traders": a.traders} if a.traders else {})} for a in attempts]}
        self.store.r.hset(self.keys.health_recovery, check, json.dumps(summary))
        return report

    def _run_actions(self, check: str, recovery_id: str, actions: list[RecoveryAction],
                     payload: dict[str, Any]) -> list[RecoveryAttempt]:
        attempts: list[RecoveryAttempt] = []
        for action in actions:
            attempt_id = f"{recovery_id}:{action.value}"
            attempt = self._recorded(attempt_id) or self._attempt(check, recovery_id, attempt_id, action, payload)
            attempts.append(attempt)
            if attempt.outcome == SUCCEEDED:
                break
        return attempts

    def _recorded(self, attempt_id: str) -> RecoveryAttempt | None:
        raw = self.store.r.get(self.keys.recovery_recorded(attempt_id))
        return RecoveryAttempt(**json.loads(raw)) if raw else None

    def _attempt(self, check: str, recovery_id: str, attempt_id: str, action: RecoveryAction,
                 payload: dict[str, Any]) -> RecoveryAttempt:
        started = time.monotonic()
        attempt = RecoveryAttempt(attempt_id, recovery_id, check, action.value, "skipped",
                                  targets=list(payload.get("failing") or []))
        attempt.outcome, attempt.reason, attempt.details = self._decide_and_do(check, attempt_id, action, payload)
        attempt.traders = attempt.details.pop("traders", {})
        attempt.duration_seconds = round(time.monotonic() - started, 6)
        self._record(attempt)
        return attempt

    def _decide_and_do(self, check: str, attempt_id: str, action: RecoveryAction,
                       payload: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        rec = self.settings.recovery
        if action is RecoveryAction.CLOSE_POSITIONS and not rec.allow_close_positions:
            return "skipped", "close_positions is disabled (recovery.allow_close_positions: false)", {}
        if rec.dry_run:
            log.warning("recovery dry run: would run %s for %s (targets %s)", action.value, check,
                        payload.get("failing") or "-")
            return "dry_run", f"dry run: would run {action.value}", {}
        if action in WORKER_ACTIONS:
            return self._notify_admin(check, payload)
        if payload.get("trader_stale"):
            return "skipped", "trader not reporting (the check found its report stale)", {}
        window = live_window_seconds(self.settings)
        if not live_traders(self.store, self.keys, window):
            return "skipped", f"no trader is live (none polled the control stream within {window:g}s): nobody to execute it", {}
        if action is RecoveryAction.CLOSE_POSITIONS and not self._claim_close_window(attempt_id):
            return "skipped", (f"close_positions already ran within the last "
                               f"{rec.close_positions_window_seconds:g}s"), {}
        return self._ask_trader(check, attempt_id, action, payload)

    def _claim_close_window(self, attempt_id: str) -> bool:
        key = self.keys.close_positions_window
        window = int(max(1, self.settings.recovery.close_positions_window_seconds))
        return bool(self.store.r.set(key, attempt_id, nx=True, ex=window)) or self.store.r.get(key) == attempt_id

    def _ask_trader(self, check: str, attempt_id: str, action: RecoveryAction,
                    payload: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        timeout = self.settings.recovery.ack_timeout_seconds
        params: dict[str, Any] = {}
        if action is RecoveryAction.SCALE_DOWN:
            params["factor"] = self.settings.recovery.scale_down_factor
        if action is RecoveryAction.PAUSE_TRADING:
            params["reason"] = f"recovery of {check}: {payload.get('message', '')}"[:300]
        command = Command(id=attempt_id, action=action.value, check=check, service=payload.get("service"),
                          targets=list(payload.get("failing") or []), params=params, ttl_ms=int(timeout * 1000))
        fan = ask_traders(self.store, self.keys, command, timeout=timeout, window_seconds=live_window_seconds(self.settings))
        if not fan.expected:
            return "skipped", "no trader is live: nobody to execute it", {}
        outcome, reason = fan.outcome()
        outcomes = fan.outcomes()
        traders = {i: {"outcome": o["outcome"], "reason": o["reason"]} for i, o in outcomes.items()}
        details = next(iter(outcomes.values()))["details"] if len(outcomes) == 1 else \
            {"per_trader": {i: o["details"] for i, o in outcomes.items()}}
        return (outcome if outcome in OUTCOMES else "failed"), reason, {**details, "traders": traders}

    def _notify_admin(self, check: str, payload: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        if self._alert_manager is None:
            self._alert_manager = alert_manager_for(self.settings, self.store, self.keys, self.sender)
        if self._alert_manager is None:
            return "failed", "alerting is not available: no admin notification sent", {}
        severity = AlertSeverity.EMERGENCY if payload.get("status") == "critical" else AlertSeverity.CRITICAL
        try:
            alert_id = raise_alert(self._alert_manager, f"Recovery needed: {check}",
                                   f"Health check {check} is {payload.get('status', 'failing')}: "
                                   f"{payload.get('message', '')}", severity,
                                   {"check": check, "source": "recovery", "action": "notify_admin"})
        except Exception as exc:
            return "failed", f"alert not created: {type(exc).__name__}: {exc}"[:300], {}
        return "succeeded", "admin alert created", {"alert_id": alert_id}

    def _record(self, attempt: RecoveryAttempt) -> None:
        data = attempt.to_dict()
        fresh = record_attempt_once(self.store, self.keys, attempt.attempt_id, data,
                                    counter=f"{attempt.action}|{attempt.outcome}")
        if not fresh:
            return
        log.log(logging.INFO if attempt.outcome in (SUCCEEDED, "dry_run") else logging.WARNING,
                "recovery %s for %s: %s %s", attempt.action, attempt.check, attempt.outcome, attempt.reason)
        publish(self.store, self.keys, EventType.RECOVERY, cast(RecoveryEvent, data))


def recovery_history(store: Store, keys: KeySpace, limit: int = 50) -> list[dict[str, Any]]:
    return [json.loads(x) for x in store.r.lrange(keys.recovery_history, 0, max(0, limit - 1))]


def recovery_counts(store: Store, keys: KeySpace) -> dict[tuple[str, str], int]:
    """(action, outcome) -> attempts; feeds graphwiz_recovery_actions_total."""
    out = {}
    for fld, value in (store.r.hgetall(keys.recovery_counts) or {}).items():
        action, _, outcome = fld.partition("|")
        out[(action, outcome)] = int(value)
    return out
