"""Trader side: poll the dependency objects and ship a heartbeat + status snapshot to Redis.

Workers cannot hold the trader's objects, so a thread inside the trader polls them every
``trader.poll_interval_seconds`` and writes into ``KeySpace.trader_heartbeat`` (the hash the
ingested heartbeats also update): ``last_seen``, ``host``, ``pid`` and ``info:neo4j_connected`` as
the metrics snapshot reads them, plus its own ``status_at``, ``started_at``, ``poll_interval`` and
the JSON sections ``status:<section>`` below (``null`` when that dependency was not given). Redis
stamps ``received_at`` with its own time as the report arrives (state/scripts/trader_report.lua).
Checks judge the values and their freshness: Redis-now minus ``received_at``, so a trader whose clock
is minutes behind is not taken for dead, nor one ahead for alive after it stopped (``status_at`` and
``last_seen`` are the trader's own clock: shown, and used only for a hash written without the stamp).

What is called (duck-typed; a missing method just leaves the value out):

| object           | called, first that exists                                          | section  |
|------------------|--------------------------------------------------------------------|----------|
| exchange_manager | ``get_status()`` -> {name: {connected, rate_limit_remaining}}, else | exchanges|
|                  | ``exchanges`` {name: obj} with ``obj.is_connected()``/``obj.connected`` and ``obj.rate_limit_remaining`` | |
| neo4j_graph      | ``ping()``, else ``query("RETURN 1")``, ``run("RETURN 1")``, ``execute_query("RETURN 1")``; | neo4j |
|                  | ``get_active_transactions()`` (int or list)                         |          |
| agent_manager    | ``get_agent_status()`` -> {name: status str or {status, healthy, failures}}, else | agents |
|                  | ``agents`` {name: obj} with ``obj.is_healthy()``/``obj.healthy``/``obj.status``, ``obj.failures`` | |
| trading_engine   | ``get_positions()``/``positions`` (count), ``get_active_transactions()``/``active_transactions``, | trading |
|                  | ``get_risk_metrics()`` -> {leverage, drawdown}, ``is_paused()``/``paused`` |          |
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from graphwiz_monitoring.errors import GraphwizError
from graphwiz_monitoring.health.trader_report import write_report
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.trader.background import BackgroundLoop
from graphwiz_monitoring.trader.dependencies import Dependencies, call, has_method

log = logging.getLogger(__name__)

HEALTHY_AGENT_STATES = frozenset({"running", "active", "healthy", "ok", "idle", "ready"})
SECTIONS = ("exchanges", "neo4j", "agents", "trading")
MAX_ERROR_CHARS = 200

ExchangeStatusSink = Callable[[str, "bool | None", "float | None"], None]


def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def _count(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return len(value)
    except TypeError:
        return None


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class StatusPoller:
    """Polls the dependency objects once; each call bounded by ``timeout`` seconds."""

    def __init__(self, deps: Dependencies, timeout: float) -> None:
        self.deps = deps
        self.timeout = timeout

    def _get(self, obj: Any, method: str | None, attribute: str | None = None) -> Any:
        """``obj.method()`` if it exists, else ``obj.attribute`` (called if callable), else None."""
        if method and has_method(obj, method):
            return call(getattr(obj, method), loop=self.deps.loop, timeout=self.timeout)
        if attribute and obj is not None and hasattr(obj, attribute):
            value = getattr(obj, attribute)
            return call(value, loop=self.deps.loop, timeout=self.timeout) if callable(value) else value
        return None

    def exchanges(self) -> dict[str, Any] | None:
        manager = self.deps.exchange_manager
        if manager is None:
            return None
        try:
            status = self._get(manager, "get_status")
            if isinstance(status, Mapping):
                return {str(n): self._exchange_entry(v) for n, v in status.items()}
            out = {}
            for name, exchange in (self._get(manager, None, "exchanges") or {}).items():
                connected = self._get(exchange, "is_connected", "connected")
                remaining = self._get(exchange, None, "rate_limit_remaining")
                out[str(name)] = {"connected": None if connected is None else bool(connected),
                                  "rate_limit_remaining": _number(remaining)}
            return out
        except Exception as exc:  # a broken manager is itself news for the check
            return {"__error__": {"connected": False, "error": _err(exc)}}

    @staticmethod
    def _exchange_entry(value: Any) -> dict[str, Any]:
        if isinstance(value, Mapping):
            connected = value.get("connected")
            return {"connected": None if connected is None else bool(connected),
                    "rate_limit_remaining": _number(value.get("rate_limit_remaining"))}
        return {"connected": bool(value), "rate_limit_remaining": None}

    def neo4j(self) -> dict[str, Any] | None:
        graph = self.deps.neo4j_graph
        if graph is None:
            return None
        started = time.monotonic()
        entry: dict[str, Any] = {"connected": None}
        try:
            if has_method(graph, "ping"):
                entry["connected"] = bool(call(graph.ping, loop=self.deps.loop, timeout=self.timeout))
            else:
                for method in ("query", "run", "execute_query"):
                    if has_method(graph, method):
                        call(getattr(graph, method), "RETURN 1", loop=self.deps.loop, timeout=self.timeout)
                        entry["connected"] = True
                        break
        except Exception as exc:
            entry.update(connected=False, error=_err(exc))
        entry["latency_seconds"] = time.monotonic() - started
        try:
            entry["active_transactions"] = _count(self._get(graph, "get_active_transactions"))
        except Exception:
            entry["active_transactions"] = None
        return entry

    def agents(self) -> dict[str, Any] | None:
        manager = self.deps.agent_manager
        if manager is None:
            return None
        try:
            status = self._get(manager, "get_agent_status")
            if isinstance(status, Mapping):
                return {str(n): self._agent_entry(v) for n, v in status.items()}
            out = {}
            for name, agent in (self._get(manager, None, "agents") or {}).items():
                healthy = self._get(agent, "is_healthy", "healthy")
                state = self._get(agent, None, "status")
                out[str(name)] = self._agent_entry({"healthy": healthy, "status": state,
                                                    "failures": self._get(agent, None, "failures")})
            return out
        except Exception as exc:
            return {"__error__": {"healthy": False, "status": "error", "error": _err(exc), "failures": None}}

    @staticmethod
    def _agent_entry(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            value = {"status": value}
        state = value.get("status")
        healthy = value.get("healthy")
        if healthy is None:
            healthy = str(state).strip().lower() in HEALTHY_AGENT_STATES if state is not None else None
        return {"healthy": None if healthy is None else bool(healthy),
                "status": None if state is None else str(state), "failures": _count(value.get("failures"))}

    def trading(self) -> dict[str, Any] | None:
        engine = self.deps.trading_engine
        if engine is None:
            return None
        entry: dict[str, Any] = {}
        for key, method, attribute in (("positions", "get_positions", "positions"),
                                       ("active_transactions", "get_active_transactions", "active_transactions")):
            try:
                entry[key] = _count(self._get(engine, method, attribute))
            except Exception as exc:
                entry[key], entry[f"{key}_error"] = None, _err(exc)
        try:
            risk = self._get(engine, "get_risk_metrics") or {}
            entry["leverage"] = _number(risk.get("leverage"))
            entry["drawdown"] = _number(risk.get("drawdown", risk.get("current_drawdown")))
        except Exception as exc:
            entry.update(leverage=None, drawdown=None, risk_error=_err(exc))
        try:
            paused = self._get(engine, "is_paused", "paused")
            entry["paused"] = None if paused is None else bool(paused)
        except Exception:
            entry["paused"] = None
        return entry

    def snapshot(self) -> dict[str, Any]:
        return {"exchanges": self.exchanges(), "neo4j": self.neo4j(), "agents": self.agents(),
                "trading": self.trading()}


class StatusReporter(BackgroundLoop):
    """The trader's reporting thread: heartbeat + status snapshot every ``interval`` seconds."""

    thread_name = "graphwiz-status-reporter"

    def __init__(self, store: Store, keys: KeySpace, deps: Dependencies, interval: float, *,
                 host: str, on_exchange_status: ExchangeStatusSink | None = None) -> None:
        self.store = store
        self.keys = keys
        self.poller = StatusPoller(deps, timeout=max(0.5, min(interval, 5.0)))
        self.interval = interval
        self.host = host
        self.on_exchange_status = on_exchange_status
        self.started_at = time.time()
        super().__init__()

    def report_once(self) -> dict[str, Any]:
        """Poll and write one heartbeat; returns the snapshot written."""
        snapshot = self.poller.snapshot()
        now = repr(time.time())
        fields = {"last_seen": now, "status_at": now, "pid": str(os.getpid()), "host": self.host,
                  "started_at": repr(self.started_at), "poll_interval": repr(self.interval)}
        fields.update({f"status:{s}": json.dumps(snapshot[s]) for s in SECTIONS})
        connected = (snapshot["neo4j"] or {}).get("connected")
        write_report(self.store, self.keys, fields, "" if connected is None else "true" if connected else "false")
        if self.on_exchange_status and snapshot["exchanges"]:
            for name, entry in snapshot["exchanges"].items():
                if name != "__error__":
                    self._feed(name, entry)
        return snapshot

    def _feed(self, name: str, entry: dict[str, Any]) -> None:
        try:
            self.on_exchange_status(name, entry.get("connected"), entry.get("rate_limit_remaining"))  # type: ignore[misc]
        except Exception:  # metrics are secondary to the heartbeat itself
            log.exception("update_exchange_status(%s) failed", name)

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.report_once()
                failing = False
            except GraphwizError as exc:  # Redis briefly down: try again next tick (warn once)
                log.log(logging.DEBUG if failing else logging.WARNING, "trader heartbeat not written: %s", exc)
                failing = True
            except Exception:
                log.exception("trader status poll failed")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
