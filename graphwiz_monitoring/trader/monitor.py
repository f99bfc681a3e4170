"""``TradingMonitor``: the trader-side facade (``create_monitor(config)``), names from the original description.

The trader calls ``record_*``; each call validates its input into a typed record (``ValueError`` /
``graphwiz_monitoring.ValidationError`` naming the field and value when it is wrong) and hands it to
the in-process client (trader/shipper.py), which ships batches to the workers in the background.
Nothing here waits for Redis except the read methods (``get_metrics`` and the history queries).

Sections: recording (metrics), reading (metrics), lifecycle, dependencies; the alerting and health
areas add their own sections below.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from graphwiz_monitoring.config import Settings, load_settings, parse_settings
from graphwiz_monitoring.health.checker import HealthChecker
from graphwiz_monitoring.metrics import history
from graphwiz_monitoring.metrics.codec import FastPathMiss, fast_trade
from graphwiz_monitoring.metrics.models import parse
from graphwiz_monitoring.metrics.snapshot import build_snapshot
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import TaskSender
from graphwiz_monitoring.trader.health import TraderHealth
from graphwiz_monitoring.trader.inflight import redis_confirm
from graphwiz_monitoring.trader.metrics_api import MetricsCollector
from graphwiz_monitoring.trader.sender import IngestSender, Sender
from graphwiz_monitoring.trader.servers import TraderServers
from graphwiz_monitoring.trader.shipper import MetricsClient


class _LazyTaskSender:
    """A TaskSender that builds the real one on its first send."""

    def __init__(self, resolve: Callable[[], TaskSender]) -> None:
        self._resolve = resolve

    def send(self, task: str, args: Sequence[Any] = (), *, retry: bool = False, max_age_seconds: float | None = None,
             **options: Any) -> None:
        self._resolve().send(task, args, retry=retry, max_age_seconds=max_age_seconds, **options)


class TradingMonitor:
    """Monitoring inside the trader: record, read, and (other sections) alerts and health."""

    def __init__(self, settings: Settings, *, sender: Sender | None = None,
                 task_sender: TaskSender | None = None) -> None:
        """``sender`` replaces the batch transport (tests); ``task_sender`` the Celery one built on first use."""
        self.settings = settings
        self.keys = KeySpace(settings.redis.namespace)
        self.store = Store.from_settings(settings.redis)  # connects lazily, on the first read
        if task_sender is not None:
            self.__dict__["task_sender"] = task_sender
        if sender is None:
            self.client = MetricsClient(settings, IngestSender(lambda: self.task_sender),
                                        confirm=redis_confirm(settings))
        else:
            self.client = MetricsClient(settings, sender)
        self.metrics_collector = MetricsCollector(self)
        self.exchange_manager: Any = None
        self.neo4j_graph: Any = None
        self.trading_engine: Any = None
        self.agent_manager: Any = None
        self.running = False

    @functools.cached_property
    def task_sender(self) -> TaskSender:
        """The one TaskSender of this trader (batches, notifications, recovery), built on first use:
        importing Celery costs a few hundred ms that ``create_monitor()`` should not pay."""
        from graphwiz_monitoring.celery.sender import sender_for

        return sender_for(self.settings)

    @functools.cached_property
    def lazy_task_sender(self) -> TaskSender:
        """``task_sender`` for components built early that send late (alerts, recovery)."""
        return _LazyTaskSender(lambda: self.task_sender)

    # ------------------------------------------------------------------ recording (metrics)
    def record_trade(self, trade: Mapping[str, Any]) -> str:
        """Record one trade; returns its ``trade_id`` (the caller's, or a generated one).

        ``{symbol, side (buy|sell), price, quantity, pnl?, success?, trade_id?, timestamp?, exchange?,
        strategy?, fee?, execution_time?}``; unknown keys are ignored.
        """
        try:
            data = fast_trade(trade)
        except FastPathMiss:  # unusual shape or a bad value: the model decides and explains
            data = parse("trade", trade).wire()
        self.client.add("trade", data)
        return data["trade_id"]

    def record_agent_prediction(self, agent_name: str, prediction: Mapping[str, Any] | float | str,
                                actual_outcome: Any = None) -> None:
        """Record a prediction ``{prediction, confidence?, symbol?, success?, error?, timestamp?}``.

        ``actual_outcome`` (when known) scores it: correct when it has the prediction's direction.
        """
        data = dict(prediction) if isinstance(prediction, Mapping) else {"prediction": prediction}
        data["agent"] = agent_name
        if actual_outcome is not None:
            data["actual_outcome"] = actual_outcome
        self.client.add("prediction", parse("prediction", data).wire())

    def record_exchange_latency(self, exchange: str, seconds: float, error: bool = False) -> None:
        """Record the round-trip time of one exchange API call (``error=True`` if the call failed)."""
        self.client.add("latency", parse("latency", {"exchange": exchange, "seconds": seconds, "error": error}).wire())

    def update_exchange_status(self, exchange: str, connected: bool, rate_limit_remaining: float | None = None) -> None:
        data = {"exchange": exchange, "connected": connected, "rate_limit_remaining": rate_limit_remaining}
        self.client.add("exchange_status", parse("exchange_status", data).wire())

    def update_portfolio_metrics(self, portfolio: Mapping[str, Any]) -> None:
        """Record a snapshot ``{value, cash, positions: [{symbol, quantity, price, value}]}``."""
        self.client.add("portfolio", parse("portfolio", portfolio).wire())

    # ------------------------------------------------------------------ reading (metrics)
    def get_metrics(self) -> dict[str, Any]:
        """The current metrics snapshot from Redis (all workers' view); raises StateError if unreachable."""
        return build_snapshot(self.store, self.keys, self.settings)

    async def query_prometheus(self, query: str, hours: float = 24, resolution: str | float = "1m") -> dict[str, Any]:
        """Range query against ``monitoring.prometheus_url``; raises PrometheusQueryError with the reason."""
        return await asyncio.to_thread(history.query_prometheus, self.settings.monitoring.prometheus_url,
                                       query, hours, resolution)

    async def get_trading_performance_history(self, hours: float = 24) -> dict[str, Any]:
        """Trades, P&L series, win rate, drawdown and portfolio values over the last ``hours``."""
        return await asyncio.to_thread(history.performance_history, self.store, self.keys, hours,
                                       initial_capital=self.settings.monitoring.initial_capital_usd)

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until everything recorded so far reached the broker (True) or ``timeout`` passed."""
        return self.client.flush(timeout)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start shipping (recording before start() works too: the client starts on the first record), and
        with ``monitoring.enable_prometheus`` / ``enable_realtime`` set to true, serve /metrics / the stream."""
        self.client.start()
        self.health.start(asyncio.get_running_loop())  # control listener + status reporter threads
        self.servers.start()  # daemon threads; a port already served is one log line, never an error
        self.running = True

    async def stop(self) -> None:
        """Deliver everything recorded (up to trader.stop_timeout_seconds), journal the rest, stop threads
        and close the ports this trader served."""
        self.running = False
        self._stop_alerting()
        await asyncio.to_thread(self.servers.stop)
        await asyncio.to_thread(self.health.stop)
        await asyncio.to_thread(self.client.stop)

    @functools.cached_property
    def servers(self) -> TraderServers:
        """The description's /metrics and realtime servers in this process (trader/servers.py)."""
        return TraderServers(self.settings, self.store, self.keys)

    # ------------------------------------------------------------------ dependencies
    def set_dependencies(self, exchange_manager: Any = None, neo4j_graph: Any = None, trading_engine: Any = None,
                         agent_manager: Any = None) -> None:
        """The trader's objects that health checks poll and recovery actions act on."""
        self.exchange_manager = exchange_manager
        self.neo4j_graph = neo4j_graph
        self.trading_engine = trading_engine
        self.agent_manager = agent_manager

    # ------------------------------------------------------------------ alerting (issue 4 adds here)
    @property
    def alert_manager(self) -> Any:
        """Alerts shared with the workers. Rules added to ``alert_manager.custom_rules`` are evaluated here,
        against ``get_metrics()`` every ``monitoring.rule_evaluation_interval_seconds``. Which channels
        are told is the workers' configuration's decision; ``check_alert`` also finds the YAML rules
        the rule workers publish (alerting/published.py)."""
        manager = self.__dict__.get("_alert_manager")
        if manager is None:
            from graphwiz_monitoring.alerting.manager import AlertManager
            from graphwiz_monitoring.trader.custom_rules import CustomRuleLoop

            manager = AlertManager(self.store, self.keys, self.settings, sender=self.lazy_task_sender)
            # The trader's settings need not be the deployment's (the description's dict has no
            # notifications): every channel an alert asks for is handed over, the notify workers decide.
            manager.notifier.deployment_config = False
            from graphwiz_monitoring.trader.health import trader_identity

            loop = CustomRuleLoop(manager, self.get_metrics, self.settings.monitoring.rule_evaluation_interval_seconds,
                                  identity=trader_identity(self.settings))
            manager.custom_rules.listeners.append(loop.ensure_started)
            self.__dict__["_alert_manager"], self.__dict__["_custom_rule_loop"] = manager, loop
        return manager

    def create_manual_alert(self, title: str, message: str, severity: Any = "info", channels: Any = None,
                            metadata: Mapping[str, Any] | None = None) -> Any:
        """Send a one-off alert now through the workers' notification queues; returns the Alert."""
        return self.alert_manager.create_manual_alert(title, message, severity, channels, metadata)

    def acknowledge_alert(self, alert_id: str, by: str, comment: str | None = None,
                          for_seconds: float | None = None) -> Any:
        """Acknowledge an active alert for every process (docs/ALERTS.md "Acknowledge"): it stops repeating
        and escalating until it resolves, ``for_seconds`` run out, or its severity rises. Returns the Alert;
        AlertNotFoundError (a ValueError) when no active alert has that id."""
        return self.alert_manager.acknowledge_alert(alert_id, by, comment=comment, for_seconds=for_seconds)

    def unacknowledge_alert(self, alert_id: str, by: str) -> Any:
        """Take back an alert's ack: its repeats and escalation go on at once. Returns the Alert."""
        return self.alert_manager.unacknowledge_alert(alert_id, by)

    def get_active_alerts(self) -> list[Any]:
        """Alerts firing now (every process's view), newest first."""
        from graphwiz_monitoring.alerting.manager import get_active_alerts

        return get_active_alerts(self.store, self.keys)

    def get_alert_history(self, hours: float = 24, severity: Any = None) -> list[Any]:
        """Alerts created in the last ``hours``, newest first, optionally of one severity."""
        from graphwiz_monitoring.alerting.manager import get_alert_history

        return get_alert_history(self.store, self.keys, hours=hours, severity=severity)

    def _stop_alerting(self) -> None:
        """Stop the custom-rule evaluator thread (called from stop())."""
        loop = self.__dict__.get("_custom_rule_loop")
        if loop is not None:
            loop.stop()


    # ------------------------------------------------------------------ health / recovery (issue 5 adds here)
    @functools.cached_property
    def health(self) -> TraderHealth:
        """Control listener, status reporter and the health API (trader/health.py)."""
        return TraderHealth(self)

    @property
    def health_checker(self) -> HealthChecker:
        return self.health.checker

    def is_trading_paused(self) -> bool:
        """The persistent trading-paused flag (set by pause_trading recovery or the CLI)."""
        return self.health.is_trading_paused()

    def get_health_status(self) -> dict[str, Any]:
        """Latest result of every check, breakers, trader heartbeat, paused flag (JSON-serializable)."""
        return self.health.checker.get_health_summary()

    def get_circuit_breaker_status(self) -> dict[str, dict[str, Any]]:
        return self.health.checker.get_circuit_breaker_status()

    def reset_circuit_breaker(self, name: str) -> dict[str, Any]:
        return self.health.checker.reset_circuit_breaker(name)


def create_monitor(config: Mapping[str, Any] | Settings | None = None, **kwargs: Any) -> TradingMonitor:
    """A monitor from a config mapping (as in monitoring.yaml), a Settings, or None (load monitoring.yaml)."""
    if config is None:
        settings = load_settings()
    elif isinstance(config, Settings):
        settings = config
    else:
        settings = parse_settings(config, source="create_monitor(config)")
    return TradingMonitor(settings, **kwargs)
