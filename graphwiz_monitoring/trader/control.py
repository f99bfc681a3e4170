"""Trader side: a thread that executes recovery commands from the control stream on the dependency
objects and acknowledges each with its honest outcome.

It reads ``KeySpace.control_stream`` as consumer group ``trader`` (its own pending entries first after
a restart), drops commands older than their ``ttl_ms`` (the sender already recorded a timeout), claims
each command id once (``control_claim``, so a re-sent command is answered from the stored result and
never executed twice) and writes the result (commands.py).

What each action calls (a missing object or method = ``failed``, reason "not supported by <object>";
a method that raises or returns ``False`` = ``failed``; anything else = ``succeeded``; ``async``
methods are awaited on the trader's loop):

| action            | calls                                                                              |
|-------------------|------------------------------------------------------------------------------------|
| reconnect         | service exchange: ``exchange_manager.reconnect(name)`` per failing exchange, or ``reconnect()``; |
|                   | service neo4j: ``neo4j_graph.reconnect()``, else ``neo4j_graph.close()`` + ``connect()``;       |
|                   | other: ``reconnect()`` on every dependency object that has it                       |
| restart           | ``agent_manager.restart_agent(name)`` per failing agent, else ``agent_manager.restart()`` |
| scale_down        | ``trading_engine.scale_down(factor)`` (``recovery.scale_down_factor``)             |
| pause_trading     | sets the persistent trading-paused flag, then ``trading_engine.pause()`` if present |
| close_positions   | ``trading_engine.close_all_positions()``                                           |
| clear_cache       | ``clear_cache()`` on every dependency object that has it                           |
| reset_rate_limits | ``exchange_manager.reset_rate_limits()``                                           |
| resume_trading    | (CLI) clears the flag, then ``trading_engine.resume()`` if present                 |
"""

from __future__ import annotations

import logging
import time
from typing import Any

from graphwiz_monitoring.errors import GraphwizError, StateError
from graphwiz_monitoring.health.commands import (
    FAILED,
    RESULT_TTL_SECONDS,
    SUCCEEDED,
    Command,
    read_result,
    redis_now_ms,
    write_result,
)
from graphwiz_monitoring.health.pause import is_trading_paused, set_trading_paused
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.state.dead_letters import add_dead_letter
from graphwiz_monitoring.trader.background import BackgroundLoop
from graphwiz_monitoring.trader.dependencies import (
    DEPENDENCY_NAMES,
    Dependencies,
    NotSupported,
    call,
    has_method,
    method_of,
)

log = logging.getLogger(__name__)

GROUP = "trader"
BLOCK_MS = 1000
MAX_REASON_CHARS = 300


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
    """Executes control-stream commands in the trader process (one daemon thread)."""

    thread_name = "graphwiz-control-listener"

    def __init__(self, store: Store, keys: KeySpace, deps: Dependencies, *, identity: str,
                 action_timeout: float = 10.0, consumer: str = "trader", block_ms: int = BLOCK_MS) -> None:
        self.store = store
        self.keys = keys
        self.deps = deps
        self.identity = identity
        self.action_timeout = action_timeout
        self.consumer = consumer
        self.block_ms = block_ms  # how long one read blocks, hence how quickly stop() returns
        self._pending = True  # after a (re)start, our own unacknowledged entries come first
        self._group_ready = False
        super().__init__()

    # ------------------------------------------------------------------ stream plumbing

    def _ensure_group(self) -> None:
        try:
            self.store.r.xgroup_create(self.keys.control_stream, GROUP, id="0", mkstream=True)
        except StateError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def poll_once(self, block_ms: int | None = None) -> int:
        """Read and handle one batch of commands; returns how many were read."""
        block_ms = self.block_ms if block_ms is None else block_ms
        if not self._group_ready:
            self._ensure_group()
        start_id = "0" if self._pending else ">"
        try:
            response = self.store.r.xreadgroup(GROUP, self.consumer, {self.keys.control_stream: start_id},
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
            self.store.r.xack(self.keys.control_stream, GROUP, entry_id)
        return len(entries)

    def _handle_entry(self, entry_id: str, fields: dict[str, str]) -> None:
        try:
            command = Command.from_entry(entry_id, fields)
        except (ValueError, KeyError, TypeError) as exc:
            add_dead_letter(self.store, self.keys, "control_command", {"entry_id": entry_id, "fields": fields},
                            f"malformed control command: {exc}")
            return
        self.handle(command)

    def handle(self, command: Command) -> dict[str, Any] | None:
        """Execute once per command id and acknowledge; None when dropped (expired, or running elsewhere)."""
        if command.entry_id and command.age_ms(redis_now_ms(self.store)) > command.ttl_ms:
            log.warning("control command %s (%s) expired before it was read; not executed", command.id, command.action)
            return None
        if not self.store.r.set(self.keys.control_claim(command.id), self.identity, nx=True, ex=RESULT_TTL_SECONDS):
            previous = read_result(self.store, self.keys, command.id)
            if previous is not None:  # a re-sent command: answer again, do not act again
                write_result(self.store, self.keys, command.id, previous)
            return previous
        started = time.monotonic()
        outcome, reason, details = self.execute(command)
        result = {"command_id": command.id, "action": command.action, "check": command.check, "outcome": outcome,
                  "reason": reason, "details": details, "finished_at": time.time(),
                  "duration_seconds": round(time.monotonic() - started, 6), "trader": self.identity}
        log.log(logging.INFO if outcome == SUCCEEDED else logging.WARNING, "control %s (%s): %s %s",
                command.action, command.id, outcome, reason)
        write_result(self.store, self.keys, command.id, result)
        return result

    # ------------------------------------------------------------------ actions

    def execute(self, command: Command) -> tuple[str, str, dict[str, Any]]:
        calls = _Calls(self.deps, self.action_timeout)
        handler = getattr(self, f"_do_{command.action}", None)
        if handler is None:
            return FAILED, f"action {command.action!r} is not executed by the trader", {}
        try:
            extra = handler(command, calls) or {}
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

    def _do_scale_down(self, command: Command, calls: _Calls) -> None:
        calls("trading_engine", "scale_down", float(command.params.get("factor", 0.5)))

    def _do_pause_trading(self, command: Command, calls: _Calls) -> dict[str, Any]:
        set_trading_paused(self.store, self.keys, True, reason=str(command.params.get("reason", command.check)),
                           by=f"recovery:{command.check}" if command.check else "cli")
        if not has_method(self.deps.trading_engine, "pause"):
            return {"flag": True, "_outcome": (SUCCEEDED, "trading-paused flag set; trading_engine has no pause()")}
        calls("trading_engine", "pause")
        return {"flag": True}

    def _do_resume_trading(self, command: Command, calls: _Calls) -> dict[str, Any]:
        set_trading_paused(self.store, self.keys, False, reason="resumed", by="cli")
        if not has_method(self.deps.trading_engine, "resume"):
            return {"flag": False, "_outcome": (SUCCEEDED, "trading-paused flag cleared; trading_engine has no resume()")}
        calls("trading_engine", "resume")
        return {"flag": False}

    def _do_close_positions(self, command: Command, calls: _Calls) -> None:
        calls("trading_engine", "close_all_positions")

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
