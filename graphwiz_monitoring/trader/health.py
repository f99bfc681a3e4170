"""The health area inside the trader process, as used by ``TradingMonitor``.

``TraderHealth(monitor)`` owns the control listener (executes recovery commands on the objects given
to ``set_dependencies()``) and the status reporter (heartbeat + dependency snapshot), and offers the
monitor's health API: ``is_trading_paused()``, ``get_health_status()``, breakers, and a
``HealthChecker`` whose failing checks hand recovery to the workers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.context import hostname
from graphwiz_monitoring.health.checker import HealthChecker
from graphwiz_monitoring.health.pause import is_trading_paused, set_trading_paused, trading_pause_status
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.trader.control import ControlListener
from graphwiz_monitoring.trader.dependencies import Dependencies
from graphwiz_monitoring.trader.reporter import StatusReporter

log = logging.getLogger(__name__)

def trader_identity(settings: Settings) -> str:
    """``trader.name``, else the host name ($GRAPHWIZ_HOST overrides): stable across restarts, so the
    trader keeps its consumer group, its dedup claims and its close_positions window. Several trader
    processes on one host need a ``trader.name`` each (a shared name is reported as a conflict)."""
    return settings.trader.name or hostname()


class TraderHealth:
    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor
        self.settings: Settings = monitor.settings
        self.store: Store = monitor.store
        self.keys: KeySpace = monitor.keys
        self.deps = Dependencies(source=monitor)
        # answer before the worker stops waiting, so a slow action is reported as failed, not as timeout
        action_timeout = max(0.5, self.settings.recovery.ack_timeout_seconds * 0.8)
        # this trader's own recovery settings and state dir: it judges commands itself (control.py)
        self.listener = ControlListener(self.store, self.keys, self.deps, identity=trader_identity(self.settings),
                                        recovery=self.settings.recovery, state_dir=self.settings.trader.journal_dir,
                                        action_timeout=action_timeout, host=hostname())
        self.reporter = StatusReporter(self.store, self.keys, self.deps, self.settings.trader.poll_interval_seconds,
                                       host=hostname(), on_exchange_status=self._exchange_status)

    @functools.cached_property
    def checker(self) -> HealthChecker:
        # The trader's AlertManager: its health alerts, too, go to the channels the notify workers decide.
        return HealthChecker(self.settings, self.store, self.keys, alert_manager=self.monitor.alert_manager,
                             sender=self.monitor.lazy_task_sender)

    def _exchange_status(self, name: str, connected: bool | None, remaining: float | None) -> None:
        if connected is not None:  # so the metrics (graphwiz_exchange_connected, rules) see it too
            self.monitor.update_exchange_status(name, connected, remaining)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.deps.loop = loop
        self.listener.start()
        self.reporter.start()

    def stop(self) -> None:
        self.reporter.stop()
        self.listener.stop()

    def is_trading_paused(self) -> bool:
        return is_trading_paused(self.store, self.keys)

    def pause_trading(self, reason: str = "paused by the trader") -> dict[str, Any]:
        return set_trading_paused(self.store, self.keys, True, reason=reason, by="trader")

    def resume_trading(self) -> dict[str, Any]:
        return set_trading_paused(self.store, self.keys, False, reason="resumed", by="trader")

    def trading_status(self) -> dict[str, Any]:
        return trading_pause_status(self.store, self.keys)
