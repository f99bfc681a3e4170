"""``MetricsCollector``: the original description's metrics API, as a thin layer over the monitor.

Every method delegates to the same code the ``TradingMonitor`` uses (validation, the shipping client,
the Redis snapshot and the pure math), so there is one implementation of each number.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError

from graphwiz_monitoring.metrics import calculations as calc
from graphwiz_monitoring.metrics.history import performance_history
from graphwiz_monitoring.metrics.models import Position, invalid
from graphwiz_monitoring.metrics.system import collect_host_sample

if TYPE_CHECKING:
    from graphwiz_monitoring.trader.monitor import TradingMonitor


class MetricsCollector:
    """Method names of the original ``MetricsCollector``; state lives in Redis, not in this object."""

    def __init__(self, monitor: TradingMonitor) -> None:
        self._monitor = monitor

    def collect_system_metrics(self) -> dict[str, Any]:
        """Sample this host now, queue the sample for ingestion, and return it."""
        sample = collect_host_sample()
        self._monitor.client.add("system", sample.wire())
        return sample.wire()

    def record_trade(self, trade: Mapping[str, Any]) -> str:
        return self._monitor.record_trade(trade)

    def record_exchange_latency(self, exchange: str, latency: float) -> None:
        self._monitor.record_exchange_latency(exchange, latency)

    def record_agent_prediction(self, agent_name: str, prediction: Any, actual_outcome: Any = None) -> None:
        self._monitor.record_agent_prediction(agent_name, prediction, actual_outcome)

    def update_portfolio_metrics(self, portfolio: Mapping[str, Any]) -> None:
        self._monitor.update_portfolio_metrics(portfolio)

    def calculate_trading_metrics(self, lookback_hours: float = 24) -> dict[str, Any]:
        """All-time trading figures from the snapshot plus the same figures over ``lookback_hours``."""
        monitor = self._monitor
        trading = dict(monitor.get_metrics()["trading"])
        window = performance_history(monitor.store, monitor.keys, lookback_hours,
                                     initial_capital=monitor.settings.monitoring.initial_capital_usd)
        trading["lookback"] = {k: window[k] for k in ("hours", "trades", "successful_trades", "failed_trades",
                                                      "pnl_usd", "win_rate", "max_drawdown", "current_drawdown")}
        return trading

    def calculate_risk_metrics(self, portfolio_value: float, positions: Sequence[Mapping[str, Any]]
                               ) -> dict[str, Any]:
        """Exposure, leverage and position count of the given positions; VaR and correlation from history."""
        try:
            values = [Position.model_validate(p).value or 0.0 for p in positions]
        except PydanticValidationError as exc:
            raise invalid("position", exc) from None
        exposure = calc.exposure(values)
        stored = self._monitor.get_metrics()["risk"]
        return {
            "var_95_usd": stored["var_95_usd"], "var_99_usd": stored["var_99_usd"],
            "exposure_usd": exposure, "leverage": calc.leverage(exposure, portfolio_value),
            "correlation_avg": stored["correlation_avg"], "position_count": len(values),
            "timestamp": time.time(),
        }

    def get_all_metrics(self) -> dict[str, Any]:
        return self._monitor.get_metrics()
