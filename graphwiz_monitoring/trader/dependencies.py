"""The trader's dependency objects and how the monitor calls them (duck-typed, bounded in time).

``TradingMonitor.set_dependencies(exchange_manager, neo4j_graph, trading_engine, agent_manager)``
fills a ``Dependencies``; the status reporter and the control listener call methods on it from their
own threads. A method may be sync or ``async``: coroutines run on the trader's event loop when the
monitor was started from one (``loop``), else on a private loop. Every call is bounded by a timeout
so that one hung object cannot stall heartbeats or the control stream.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

from graphwiz_monitoring.errors import RecoveryError

DEPENDENCY_NAMES = ("exchange_manager", "neo4j_graph", "trading_engine", "agent_manager")


class NotSupported(RecoveryError):
    """Raised when a dependency object is missing or lacks the method an action needs."""


class Dependencies:
    """The four objects, given directly or read live from ``source`` (the TradingMonitor, whose
    ``set_dependencies()`` may be called before or after start)."""

    def __init__(self, exchange_manager: Any = None, neo4j_graph: Any = None, trading_engine: Any = None,
                 agent_manager: Any = None, *, source: Any = None,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._values = {"exchange_manager": exchange_manager, "neo4j_graph": neo4j_graph,
                        "trading_engine": trading_engine, "agent_manager": agent_manager}
        self._source = source
        self.loop = loop  # the trader's event loop, for async methods

    def get(self, name: str) -> Any:
        if self._source is not None:
            return getattr(self._source, name, None)
        return self._values[name]

    @property
    def exchange_manager(self) -> Any:
        return self.get("exchange_manager")

    @property
    def neo4j_graph(self) -> Any:
        return self.get("neo4j_graph")

    @property
    def trading_engine(self) -> Any:
        return self.get("trading_engine")

    @property
    def agent_manager(self) -> Any:
        return self.get("agent_manager")


def has_method(obj: Any, method: str) -> bool:
    return obj is not None and callable(getattr(obj, method, None))


def method_of(deps: Dependencies, owner: str, method: str) -> Any:
    """The bound method ``owner.method``; NotSupported names what is missing."""
    obj = deps.get(owner)
    if obj is None:
        raise NotSupported(f"no {owner} given to set_dependencies")
    fn = getattr(obj, method, None)
    if not callable(fn):
        raise NotSupported(f"not supported by {owner} (no {method}())")
    return fn


def _resolve(value: Any, loop: asyncio.AbstractEventLoop | None, timeout: float) -> Any:
    if not inspect.isawaitable(value):
        return value

    async def wait() -> Any:
        return await value

    if loop is not None and loop.is_running():
        return asyncio.run_coroutine_threadsafe(wait(), loop).result(timeout)
    return asyncio.run(asyncio.wait_for(wait(), timeout))


def call(fn: Any, *args: Any, loop: asyncio.AbstractEventLoop | None = None, timeout: float = 10.0) -> Any:
    """Call ``fn(*args)`` (sync or async) in a helper thread; RecoveryError if it overruns ``timeout``.

    A hung call keeps its daemon thread, but the caller moves on and reports the timeout honestly.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = _resolve(fn(*args), loop, timeout)
        except BaseException as exc:  # handed to the caller's thread as is
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"graphwiz-call-{getattr(fn, '__name__', 'fn')}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise RecoveryError(f"{getattr(fn, '__qualname__', fn)} did not return within {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box.get("value")
