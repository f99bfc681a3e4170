"""Trader side: a thread that executes control-stream commands on the dependency objects, judged by
the trader's OWN settings, and acknowledges each with its honest outcome under its identity.

A command is a request, not an order: anyone who can write to Redis can add one, so the trader decides
for itself (nothing the worker checked counts here):

- ``close_positions`` runs only with this trader's ``recovery.allow_close_positions`` and at most once
  per ``recovery.close_positions_window_seconds``, a window the trader keeps on its own disk across
  its restarts (guard.py); otherwise ``refused`` with the reason.
- ``scale_down`` uses this trader's ``recovery.scale_down_factor``; a factor in the command is ignored.
- A command older than its ``ttl_ms`` when read (its age on the Redis clock, through the entry id) is
  ``refused``: its sender has stopped waiting, and acting late could surprise whoever retried since.
- A command id this trader already took is never executed again: the first outcome is kept (and
  counts ``refused_duplicates``); a taken id without an outcome (the trader stopped while executing
  it) is answered ``refused``.
- An unknown action is ``refused``.
- Allowed by default, because they only pause, retry or tidy and cannot lose money by themselves:
  ``pause_trading`` (it stops trading; the worst a forger can do is stop it), ``reconnect``,
  ``restart``, ``clear_cache``, ``reset_rate_limits``, and ``resume_trading`` (the CLI's resume: it
  clears the Redis pause flag, which a Redis writer could clear directly anyway).

It reads ``KeySpace.control_stream`` through a consumer group of its own, ``trader:<identity>`` (its
own pending entries first after a restart), so every trader sees every command; a new identity's
group starts at the stream's end (commands sent before it was live were meant for others). Every
``LISTENER_POLL_SECONDS`` it registers as live (commands.py: ``touch_trader``) and a clean stop
unregisters it; it claims each command id once per identity (``control_claims``) and writes the result
(``control_results``, field = identity).

What each action calls (a missing object or method = ``failed``, reason "not supported by <object>";
a method that raises or returns ``False`` = ``failed``; anything else = ``succeeded``; ``async``
methods are awaited on the trader's loop):

| action            | calls                                                                              |
|-------------------|------------------------------------------------------------------------------------|
| reconnect         | service exchange: ``exchange_manager.reconnect(name)`` per failing exchange, or ``reconnect()``; |
|                   | service neo4j: ``neo4j_graph.reconnect()``, else ``neo4j_graph.close()`` + ``connect()``;       |
|                   | other: ``reconnect()`` on every dependency object that has it                       |
| restart           | ``agent_manager.restart_agent(name)`` per failing agent, else ``agent_manager.restart()`` |
| scale_down        | ``trading_engine.scale_down(factor)`` (this trader's ``recovery.scale_down_factor``) |
| pause_trading     | sets the persistent trading-paused flag, then ``trading_engine.pause()`` if present |
| close_positions   | ``trading_engine.close_all_positions()`` (opt-in and window above)                 |
| clear_cache       | ``clear_cache()`` on every dependency object that has it                           |
| reset_rate_limits | ``exchange_manager.reset_rate_limits()``                                           |
| resume_trading    | (CLI) clears the flag, then ``trading_engine.resume()`` if present                 |
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphwiz_monitoring.config.health import RecoverySettings
from graphwiz_monitoring.errors import GraphwizError, RecoveryError, StateError
from graphwiz_monitoring.health.commands import (
    FAILED,
    LISTENER_POLL_SECONDS,
    REFUSED,
    RESULT_TTL_SECONDS,
    SUCCEEDED,
    Command,
    leave_trader,
    read_results,
    redis_now_ms,
    touch_trader,
    write_result,
)
from graphwiz_monitoring.health.pause import is_trading_paused, set_trading_paused
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.state.dead_letters import add_dead_letter
from graphwiz_monitoring.trader.background import BackgroundLoop
from graphwiz_monitoring.trader.close_window import CloseWindow
from graphwiz_monitoring.trader.dependencies import (
    DEPENDENCY_NAMES,
    Dependencies,
    NotSupported,
    call,
    has_method,
    method_of,
)

log = logging.getLogger(__name__)

GROUP_PREFIX = "trader:"
CONSUMER = "listener"  # one per group; the same name after a restart, so our own pending entries come back
BLOCK_MS = int(LISTENER_POLL_SECONDS * 1000)
MAX_REASON_CHARS = 300


def _utc(epoch: str | None) -> str:
    try:
        return datetime.fromtimestamp(float(epoch or ""), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, OverflowError, OSError):
        return str(epoch)


class Refused(RecoveryError):
    """Raised when this trader's own settings do not allow a command."""


class _Calls:
    """Runs dependency calls for one command and remembers each one's outcome."""

    def __init__(self, deps: Dependencies, timeout: float) -> None:
        self.deps = deps
        self.timeout = timeout
        self.log: list[dict[str, Any]] = []

    def __call__(self, owner: str, method: str, *args: Any) -> bool:
        shown = f"{owner}.{method}({', '.join(repr(a) for a in args)})"
        try:
            value = call(method_of(self.deps, owner, method), *args, loop=self.deps.loop, timeout=self.timeout)
        except NotSupported:
            raise
        except Exception as exc:
            self.log.append({"call": shown, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:MAX_REASON_CHARS]})
            return False
        ok = value is not False
        self.log.append({"call": shown, "ok": ok, **({} if ok else {"error": "returned False"})})
        return ok

    def outcome(self) -> tuple[str, str]:
        failed = [c for c in self.log if not c["ok"]]
        if not self.log:
            return FAILED, "nothing was called"
        if failed:
            return FAILED, "; ".join(f"{c['call']}: {c['error']}" for c in failed)[:MAX_REASON_CHARS]
        return SUCCEEDED, "; ".join(c["call"] for c in self.log)[:MAX_REASON_CHARS]


class ControlListener(BackgroundLoop):
    """Executes control-stream commands in the trader process (one daemon thread).

    ``recovery`` is THIS trader's recovery settings (the defaults refuse close_positions);
    ``state_dir`` holds its close_positions window (guard.py), normally ``trader.journal_dir``.
    """

    thread_name = "graphwiz-control-listener"

    def __init__(self, store: Store, keys: KeySpace, deps: Dependencies, *, identity: str,
                 recovery: RecoverySettings | None = None, state_dir: str | os.PathLike[str] | None = None,
                 action_timeout: float = 10.0, block_ms: int = BLOCK_MS, host: str = "") -> None:
        self.store = store
        self.keys = keys
        self.deps = deps
        self.identity = identity
        self.recovery = recovery or RecoverySettings()
        self.close_window = CloseWindow(Path(state_dir) if state_dir is not None else Path(".graphwiz/journal"),
                                        identity, self.recovery.close_positions_window_seconds)
        self.action_timeout = action_timeout
        self.group = GROUP_PREFIX + identity
        self.block_ms = block_ms  # how long one read blocks, hence how quickly stop() returns
        self.token = uuid.uuid4().hex  # this process, as opposed to another one using the same identity
        self.host = host
        self._pending = True  # after a (re)start, our own unacknowledged entries come first
        self._group_ready = False
        self._touched = False
        self._conflict_logged = 0.0
        super().__init__()

    # ------------------------------------------------------------------ registry and stream plumbing

    def touch(self) -> None:
        """Say "live" in the registry (after the group exists, so nothing sent to us from now on is missed)."""
        if not self._group_ready:
            self._ensure_group()
        conflict = touch_trader(self.store, self.keys, self.identity, self.token, pid=os.getpid(), host=self.host,
                                first=not self._touched)
        self._touched = True
        if conflict and time.monotonic() - self._conflict_logged > 60:
            self._conflict_logged = time.monotonic()
            log.error("another live trader process uses the identity %r: each command reaches only one of you and "
                      "senders report a conflict; give each process its own trader.name", self.identity)

    def leave(self) -> None:
        if self._touched:
            leave_trader(self.store, self.keys, self.identity, self.token)
            self._touched = False

    def _ensure_group(self) -> None:
        try:  # "$": a new identity starts with the commands sent from now on
            self.store.r.xgroup_create(self.keys.control_stream, self.group, id="$", mkstream=True)
        except StateError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def poll_once(self, block_ms: int | None = None) -> int:
        """Read and handle one batch of commands; returns how many were read."""
        block_ms = self.block_ms if block_ms is None else block_ms
        self.touch()
        start_id = "0" if self._pending else ">"
        try:
            response = self.store.r.xreadgroup(self.group, CONSUMER, {self.keys.control_stream: start_id},
                                               count=10, block=None if self._pending else block_ms)
        except StateError as exc:
            if "NOGROUP" in str(exc):  # Redis lost the stream (restart without AOF): recreate
                self._group_ready = False
            raise
        entries = [e for _, batch in (response or []) for e in batch]
        if self._pending and not entries:  # nothing left over from before: on to new commands
            self._pending = False
            return self.poll_once(block_ms)
        for entry_id, fields in entries:
            if fields:  # a pending entry already trimmed from the stream comes back empty
                self._handle_entry(entry_id, fields)
                self.touch()  # an action may take a while: stay live in between
            self.store.r.xack(self.keys.control_stream, self.group, entry_id)
        return len(entries)

    def _handle_entry(self, entry_id: str, fields: dict[str, str]) -> None:
        try:
            command = Command.from_entry(entry_id, fields)
        except (ValueError, KeyError, TypeError) as exc:
            add_dead_letter(self.store, self.keys, "control_command", {"entry_id": entry_id, "fields": fields},
                            f"malformed control command: {exc}")
            return
        self.handle(command)

    # ------------------------------------------------------------------ one command

    def handle(self, command: Command) -> dict[str, Any]:
        """Judge, execute at most once per command id, acknowledge; returns the outcome written."""
        claims = self.keys.control_claims(command.id)
        if self.store.r.hexists(claims, self.identity):
            return self._duplicate(command)
        age_ms = command.age_ms(redis_now_ms(self.store)) if command.entry_id else 0
        if age_ms > command.ttl_ms:
            return self._answer(command, REFUSED, f"expired: read {age_ms} ms after it was sent, ttl {command.ttl_ms} "
                                                  "ms (its sender stopped waiting); not executed", {}, 0.0)
        pipe = self.store.r.pipeline(transaction=True)
        pipe.hsetnx(claims, self.identity, repr(time.time()))
        pipe.expire(claims, RESULT_TTL_SECONDS)
        if not pipe.execute()[0]:  # a second process under our identity took it in between
            return self._duplicate(command)
        started = time.monotonic()
        outcome, reason, details = self.execute(command)
        return self._answer(command, outcome, reason, details, time.monotonic() - started)

    def _answer(self, command: Command, outcome: str, reason: str, details: dict[str, Any],
                duration: float) -> dict[str, Any]:
        result = {"command_id": command.id, "action": command.action, "check": command.check, "outcome": outcome,
                  "reason": reason, "details": details, "finished_at": time.time(),
                  "duration_seconds": round(duration, 6), "trader": self.identity}
        log.log(logging.INFO if outcome == SUCCEEDED else logging.WARNING, "control %s (%s): %s %s",
                command.action, command.id, outcome, reason)
        write_result(self.store, self.keys, command.id, self.identity, result)
        return result

    def _duplicate(self, command: Command) -> dict[str, Any]:
        """A command id this trader already took: never executed again."""
        first = read_results(self.store, self.keys, command.id).get(self.identity)
        if first is None:  # taken, but no outcome: this trader stopped while executing it
            claimed = self.store.r.hget(self.keys.control_claims(command.id), self.identity)
            return self._answer(command, REFUSED, f"command id {command.id} was already taken by this trader "
                                                  f"(at {_utc(claimed)}) and has no outcome (the trader stopped "
                                                  "while executing it); not executed again", {}, 0.0)
        log.warning("control %s (%s): id already handled by this trader (%s); refused, not executed again",
                    command.action, command.id, first.get("outcome"))
        first["refused_duplicates"] = int(first.get("refused_duplicates", 0)) + 1
        write_result(self.store, self.keys, command.id, self.identity, first)  # the first outcome stays
        return first

    # ------------------------------------------------------------------ actions

    def execute(self, command: Command) -> tuple[str, str, dict[str, Any]]:
        calls = _Calls(self.deps, self.action_timeout)
        handler = getattr(self, f"_do_{command.action}", None)
        if handler is None:
            return REFUSED, f"action {command.action!r} is not executed by the trader", {}
        try:
            extra = handler(command, calls) or {}
        except Refused as exc:
            return REFUSED, str(exc), {"calls": calls.log}
        except NotSupported as exc:
            return FAILED, str(exc), {"calls": calls.log}
        except GraphwizError as exc:  # e.g. Redis down while setting the pause flag
            return FAILED, f"{type(exc).__name__}: {exc}"[:MAX_REASON_CHARS], {"calls": calls.log}
        outcome, reason = extra.pop("_outcome", None) or calls.outcome()
        return outcome, reason, {"calls": calls.log, **extra}

    def _each_having(self, method: str, calls: _Calls) -> None:
        owners = [n for n in DEPENDENCY_NAMES if has_method(self.deps.get(n), method)]
        if not owners:
            raise NotSupported(f"not supported by any dependency (none has {method}())")
        for owner in owners:
            calls(owner, method)

    def _do_reconnect(self, command: Command, calls: _Calls) -> None:
        service = command.service or {"exchange_connectivity": "exchange", "neo4j_connectivity": "neo4j"}.get(command.check)
        if service == "exchange":
            if not command.targets:
                calls("exchange_manager", "reconnect")
            for name in command.targets:
                calls("exchange_manager", "reconnect", name)
        elif service == "neo4j":
            graph = self.deps.neo4j_graph
            if has_method(graph, "reconnect") or not (has_method(graph, "close") and has_method(graph, "connect")):
                calls("neo4j_graph", "reconnect")
            elif calls("neo4j_graph", "close"):
                calls("neo4j_graph", "connect")
        else:
            self._each_having("reconnect", calls)

    def _do_restart(self, command: Command, calls: _Calls) -> None:
        if command.targets and has_method(self.deps.agent_manager, "restart_agent"):
            for name in command.targets:
                calls("agent_manager", "restart_agent", name)
        else:
            calls("agent_manager", "restart")

    def _do_scale_down(self, command: Command, calls: _Calls) -> dict[str, Any]:
        factor = self.recovery.scale_down_factor  # ours: a command cannot ask for factor 0 or 100
        calls("trading_engine", "scale_down", factor)
        asked = command.params.get("factor")
        return {"factor": factor, **({"ignored_factor": asked} if asked not in (None, factor) else {})}

    def _do_pause_trading(self, command: Command, calls: _Calls) -> dict[str, Any]:
        set_trading_paused(self.store, self.keys, True, reason=str(command.params.get("reason", command.check)),
                           by=f"recovery:{command.check}" if command.check else _by(command))
        if not has_method(self.deps.trading_engine, "pause"):
            return {"flag": True, "_outcome": (SUCCEEDED, "trading-paused flag set; trading_engine has no pause()")}
        calls("trading_engine", "pause")
        return {"flag": True}

    def _do_resume_trading(self, command: Command, calls: _Calls) -> dict[str, Any]:
        set_trading_paused(self.store, self.keys, False, reason="resumed", by=_by(command))
        if not has_method(self.deps.trading_engine, "resume"):
            return {"flag": False, "_outcome": (SUCCEEDED, "trading-paused flag cleared; trading_engine has no resume()")}
        calls("trading_engine", "resume")
        return {"flag": False}

    def _do_close_positions(self, command: Command, calls: _Calls) -> dict[str, Any]:
        if not self.recovery.allow_close_positions:
            raise Refused("close_positions is not allowed by this trader's settings "
                          "(recovery.allow_close_positions: false)")
        method_of(self.deps, "trading_engine", "close_all_positions")  # not supported: no window used up
        refusal = self.close_window.claim(command.id)
        if refusal is not None:
            raise Refused(refusal)
        calls("trading_engine", "close_all_positions")
        return {"window_record": str(self.close_window.path)}

    def _do_clear_cache(self, command: Command, calls: _Calls) -> None:
        self._each_having("clear_cache", calls)

    def _do_reset_rate_limits(self, command: Command, calls: _Calls) -> None:
        calls("exchange_manager", "reset_rate_limits")

    def apply_pause_flag(self) -> bool:
        """On start: a persisted pause also pauses a freshly started engine. Returns the flag."""
        paused = is_trading_paused(self.store, self.keys)
        if paused and has_method(self.deps.trading_engine, "pause"):
            try:
                call(self.deps.trading_engine.pause, loop=self.deps.loop, timeout=self.action_timeout)
            except Exception:
                log.exception("trading_engine.pause() failed while applying the persisted pause")
        return paused

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        try:
            self.apply_pause_flag()
        except GraphwizError as exc:
            log.warning("trading-paused flag not read at start: %s", exc)
        failing = False
        while not self._stop.is_set():
            try:
                self.poll_once()
                failing = False
            except GraphwizError as exc:  # Redis down: keep trying (warn once), the sender times out meanwhile
                log.log(logging.DEBUG if failing else logging.WARNING, "control stream: %s", exc)
                failing = True
                self._stop.wait(1.0)
            except Exception:
                log.exception("control listener error")
                self._stop.wait(1.0)
        try:
            self.leave()  # stopped cleanly: senders stop counting on us at once
        except GraphwizError as exc:
            log.warning("control listener not unregistered: %s", exc)


def _by(command: Command) -> str:
    """Who asked for a manual pause/resume (the CLI or the Telegram bot name them in ``params.by``), so the
    flag the trader rewrites keeps saying who it was."""
    return str(command.params.get("by") or "cli")[:200]
