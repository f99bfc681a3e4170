"""Plain Python stand-ins for the trader's dependency objects, steerable by a test.

The state lives in a dict; with ``state_path`` it is (re)read from a JSON file on every call, so a test
can steer objects living in another process (the e2e trader). Every call is appended to ``calls``
(and, with ``calls_path``, to a JSON-lines file) so a test can see what the trader really executed.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

DEFAULT_STATE: dict[str, Any] = {
    "exchanges": {"binance": {"connected": True, "rate_limit_remaining": 100}},
    "reconnect_works": True,  # reconnect() fixes the exchange, or raises
    "neo4j_connected": True,
    "neo4j_reconnect_works": True,
    "agents": {"momentum": "running"},
    "restart_works": True,
    "positions": 3,
    "active_transactions": 1,
    "leverage": 1.0,
    "drawdown": 0.01,
    "pause_works": True,
}


class World:
    def __init__(self, state: dict[str, Any] | None = None, *, state_path: str | None = None,
                 calls_path: str | None = None) -> None:
        self._state = json.loads(json.dumps({**DEFAULT_STATE, **(state or {})}))
        self.state_path = state_path
        self.calls_path = calls_path
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._lock = threading.Lock()
        if state_path and not os.path.exists(state_path):
            self.save()

    @property
    def state(self) -> dict[str, Any]:
        if self.state_path:
            try:
                self._state = json.loads(Path(self.state_path).read_text())
            except (OSError, ValueError):
                pass  # mid-write: keep the last good state
        return self._state

    def save(self) -> None:
        if self.state_path:
            tmp = f"{self.state_path}.tmp"
            Path(tmp).write_text(json.dumps(self._state))
            os.replace(tmp, self.state_path)

    def update(self, **changes: Any) -> None:
        with self._lock:
            self.state.update(changes)
            self.save()

    def record(self, name: str, *args: Any) -> None:
        with self._lock:
            self.calls.append((name, args))
            if self.calls_path:
                with open(self.calls_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"call": name, "args": list(args), "pid": os.getpid()}) + "\n")

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.calls if n == name]


class ExchangeManager:
    def __init__(self, world: World) -> None:
        self.world = world

    def get_status(self) -> dict[str, Any]:
        return self.world.state["exchanges"]

    def reconnect(self, name: str | None = None) -> bool:
        self.world.record("exchange_manager.reconnect", name)
        if not self.world.state["reconnect_works"]:
            raise ConnectionError(f"cannot reach {name or 'exchanges'}")
        exchanges = self.world.state["exchanges"]
        for ex_name in [name] if name else list(exchanges):
            exchanges[ex_name]["connected"] = True
        self.world.update(exchanges=exchanges)
        return True

    def reset_rate_limits(self) -> None:
        self.world.record("exchange_manager.reset_rate_limits")


class Graph:
    def __init__(self, world: World) -> None:
        self.world = world

    def ping(self) -> bool:
        if not self.world.state["neo4j_connected"]:
            raise ConnectionError("bolt connection lost")
        return True

    def reconnect(self) -> None:
        self.world.record("neo4j_graph.reconnect")
        if not self.world.state["neo4j_reconnect_works"]:
            raise ConnectionError("still down")
        self.world.update(neo4j_connected=True)

    def get_active_transactions(self) -> int:
        return 0

    def clear_cache(self) -> None:
        self.world.record("neo4j_graph.clear_cache")


class AgentManager:
    def __init__(self, world: World) -> None:
        self.world = world

    def get_agent_status(self) -> dict[str, Any]:
        return self.world.state["agents"]

    def restart_agent(self, name: str) -> bool:
        self.world.record("agent_manager.restart_agent", name)
        if not self.world.state["restart_works"]:
            return False
        agents = self.world.state["agents"]
        agents[name] = "running"
        self.world.update(agents=agents)
        return True


class TradingEngine:
    def __init__(self, world: World) -> None:
        self.world = world
        self.paused = False

    def get_positions(self) -> int:
        return self.world.state["positions"]

    def get_active_transactions(self) -> int:
        return self.world.state["active_transactions"]

    def get_risk_metrics(self) -> dict[str, Any]:
        return {"leverage": self.world.state["leverage"], "drawdown": self.world.state["drawdown"]}

    def is_paused(self) -> bool:
        return self.paused

    def pause(self) -> None:
        self.world.record("trading_engine.pause")
        if not self.world.state["pause_works"]:
            raise RuntimeError("engine refused to pause")
        self.paused = True

    def resume(self) -> None:
        self.world.record("trading_engine.resume")
        self.paused = False

    def scale_down(self, factor: float) -> None:
        self.world.record("trading_engine.scale_down", factor)

    def close_all_positions(self) -> int:
        self.world.record("trading_engine.close_all_positions")
        closed = self.world.state["positions"]
        self.world.update(positions=0)
        return closed


def dependencies(world: World) -> dict[str, Any]:
    """Keyword arguments for ``set_dependencies()`` / ``Dependencies(...)``."""
    return {"exchange_manager": ExchangeManager(world), "neo4j_graph": Graph(world),
            "trading_engine": TradingEngine(world), "agent_manager": AgentManager(world)}
