"""The main dashboard: trading, exchanges, agents, risk, portfolio and system metrics.

Filtered by the ``host``, ``exchange`` and ``agent`` template variables; colours follow the alert rules
(a panel turns orange/red/purple where the matching built-in rule fires).
"""

from __future__ import annotations

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.dashboards.model import (
    OK_COLOR,
    SEVERITY_COLORS,
    Dashboard,
    Row,
    ValueText,
    Variable,
    above,
    below,
    q,
    stat,
    state_timeline,
    timeseries,
)
from graphwiz_monitoring.dashboards.promql import gauge, increase, mean, quantile, rate, sum_
from graphwiz_monitoring.dashboards.thresholds import above_rule, below_rule, health_threshold
from graphwiz_monitoring.vocabulary import AlertSeverity

UID = "graphwiz-main"
HOST, EXCHANGE, AGENT = "$host", "$exchange", "$agent"
_W = AlertSeverity.WARNING
# A losing P&L or return is shown in the warning colour; losses large enough to alert on are drawdowns.
LOSS = below(0, _W)
LEVERAGE_UNIT = "suffix:x"  # Grafana custom unit: 2.5x


def _trading(settings: Settings) -> Row:
    drawdown = above_rule(settings, "large_loss")
    return Row("Trading", (
        stat("P&L", q(gauge("graphwiz_trading_pnl_usd"), "P&L"), unit="currencyUSD", thresholds=LOSS),
        stat("Daily P&L", q(gauge("graphwiz_trading_pnl_daily_usd"), "today"), unit="currencyUSD", thresholds=LOSS),
        stat("Win rate", q(gauge("graphwiz_trading_win_ratio"), "win rate"), unit="percentunit", min=0, max=1),
        stat("Sharpe ratio", q(gauge("graphwiz_trading_sharpe_ratio"), "Sharpe"), unit="none", decimals=2,
             description="Annualised Sharpe ratio of the trade-based equity curve."),
        stat("Current drawdown", q(gauge("graphwiz_trading_current_drawdown"), "drawdown"), unit="percentunit",
             thresholds=drawdown, description="Fraction below peak equity; the large_loss rule fires above the line."),
        stat("Max drawdown", q(gauge("graphwiz_trading_max_drawdown"), "max drawdown"), unit="percentunit",
             thresholds=drawdown),
        timeseries("P&L over time", q(gauge("graphwiz_trading_pnl_usd"), "total P&L"),
                   q(gauge("graphwiz_trading_pnl_daily_usd"), "daily P&L"), unit="currencyUSD"),
        timeseries("Drawdown", q(gauge("graphwiz_trading_current_drawdown"), "current"),
                   q(gauge("graphwiz_trading_max_drawdown"), "max"), unit="percentunit", thresholds=drawdown),
        timeseries("Trades per second",
                   q(sum_(rate("graphwiz_trading_total_trades_total")), "all"),
                   q(sum_(rate("graphwiz_trading_successful_trades_total")), "successful"),
                   q(sum_(rate("graphwiz_trading_failed_trades_total")), "failed"), unit="ops"),
        timeseries("Execution time",
                   q(quantile(0.5, "graphwiz_trading_execution_seconds"), "p50"),
                   q(quantile(0.95, "graphwiz_trading_execution_seconds"), "p95"),
                   q(quantile(0.99, "graphwiz_trading_execution_seconds"), "p99"),
                   q(mean("graphwiz_trading_execution_seconds"), "mean"), unit="s"),
        stat("Trades in the last hour",
             q(sum_(increase("graphwiz_trading_total_trades_total", "1h")), "all"),
             q(sum_(increase("graphwiz_trading_failed_trades_total", "1h")), "failed"), width=12, decimals=0),
        stat("Trades since start", q(gauge("graphwiz_trading_total_trades_total"), "all"),
             q(gauge("graphwiz_trading_successful_trades_total"), "successful"),
             q(gauge("graphwiz_trading_failed_trades_total"), "failed"), width=12, decimals=0),
    ))


def _exchanges(settings: Settings) -> Row:
    critical = SEVERITY_COLORS[AlertSeverity.CRITICAL]
    return Row("Exchanges", (
        state_timeline("Connection", q(gauge("graphwiz_exchange_connected", exchange=EXCHANGE), "{{exchange}}"),
                       mappings=(ValueText(0, "disconnected", critical), ValueText(1, "connected", OK_COLOR)),
                       thresholds=below(1, AlertSeverity.CRITICAL)),
        timeseries("Latency p99 / p50",
                   q(quantile(0.99, "graphwiz_exchange_latency_seconds", ("exchange",), exchange=EXCHANGE),
                     "{{exchange}} p99"),
                   q(quantile(0.5, "graphwiz_exchange_latency_seconds", ("exchange",), exchange=EXCHANGE),
                     "{{exchange}} p50"),
                   unit="s", thresholds=above_rule(settings, "high_latency")),
        timeseries("Fill rate", q(gauge("graphwiz_exchange_fill_ratio", exchange=EXCHANGE), "{{exchange}}"),
                   unit="percentunit", width=8, min=0, max=1),
        timeseries("Error rate", q(gauge("graphwiz_exchange_error_ratio", exchange=EXCHANGE), "{{exchange}}"),
                   unit="percentunit", width=8, min=0),
        timeseries("Rate limit remaining",
                   q(gauge("graphwiz_exchange_rate_limit_remaining", exchange=EXCHANGE), "{{exchange}}"),
                   unit="none", width=8, thresholds=below_rule(settings, "rate_limit")),
    ))


def _agents() -> Row:
    return Row("Agents", (
        timeseries("Accuracy", q(gauge("graphwiz_agent_accuracy", agent=AGENT), "{{agent}}"),
                   unit="percentunit", width=8, min=0, max=1),
        timeseries("Confidence", q(gauge("graphwiz_agent_confidence", agent=AGENT), "{{agent}}"),
                   unit="percentunit", width=8, min=0, max=1),
        timeseries("Predictions per second",
                   q(sum_(rate("graphwiz_agent_predictions_total", agent=AGENT), ("agent",)), "{{agent}}"),
                   unit="ops", width=8),
    ))


def _risk(settings: Settings) -> Row:
    leverage = above_rule(settings, "risk_limit_breach")
    positions = above(health_threshold(settings, "portfolio_health", "max_positions"), _W)
    return Row("Risk", (
        stat("VaR 95%", q(gauge("graphwiz_risk_var_95_usd"), "VaR 95"), unit="currencyUSD"),
        stat("VaR 99%", q(gauge("graphwiz_risk_var_99_usd"), "VaR 99"), unit="currencyUSD"),
        stat("Exposure", q(gauge("graphwiz_risk_exposure_usd"), "exposure"), unit="currencyUSD"),
        stat("Leverage", q(gauge("graphwiz_risk_leverage"), "leverage"), unit=LEVERAGE_UNIT, decimals=2, thresholds=leverage),
        stat("Avg correlation", q(gauge("graphwiz_risk_correlation_avg"), "correlation"), unit="none",
             decimals=2, min=-1, max=1),
        stat("Open positions", q(gauge("graphwiz_risk_positions"), "positions"), unit="none",
             decimals=0, thresholds=positions),
        timeseries("Leverage over time", q(gauge("graphwiz_risk_leverage"), "leverage"), unit=LEVERAGE_UNIT,
                   thresholds=leverage),
        timeseries("Value at risk", q(gauge("graphwiz_risk_var_95_usd"), "VaR 95%"),
                   q(gauge("graphwiz_risk_var_99_usd"), "VaR 99%"),
                   q(gauge("graphwiz_risk_exposure_usd"), "exposure"), unit="currencyUSD"),
    ))


def _portfolio() -> Row:
    return Row("Portfolio", (
        stat("Portfolio value", q(gauge("graphwiz_portfolio_value_usd"), "value"), unit="currencyUSD"),
        stat("Cash", q(gauge("graphwiz_portfolio_cash_usd"), "cash"), unit="currencyUSD"),
        stat("Positions value", q(gauge("graphwiz_portfolio_positions_value_usd"), "positions"), unit="currencyUSD"),
        stat("Return 1h", q(gauge("graphwiz_portfolio_returns_1h"), "1h"), unit="percentunit", thresholds=LOSS),
        stat("Return 24h", q(gauge("graphwiz_portfolio_returns_24h"), "24h"), unit="percentunit", thresholds=LOSS),
        stat("Return 7d", q(gauge("graphwiz_portfolio_returns_7d"), "7d"), unit="percentunit", thresholds=LOSS),
        timeseries("Portfolio over time", q(gauge("graphwiz_portfolio_value_usd"), "value"),
                   q(gauge("graphwiz_portfolio_cash_usd"), "cash"),
                   q(gauge("graphwiz_portfolio_positions_value_usd"), "positions"), unit="currencyUSD", width=24),
        timeseries("Portfolio value by trader", q(gauge("graphwiz_trader_portfolio_value_usd"), "{{trader}}"),
                   unit="currencyUSD"),
        timeseries("Realized P&L by trader", q(gauge("graphwiz_trader_pnl_usd"), "{{trader}}"), unit="currencyUSD"),
    ))


def _system(settings: Settings) -> Row:
    return Row("System", (
        timeseries("CPU", q(gauge("graphwiz_system_cpu_usage_percent", host=HOST), "{{host}}"),
                   unit="percent", width=8, min=0, max=100, thresholds=above_rule(settings, "high_cpu")),
        timeseries("Memory", q(gauge("graphwiz_system_memory_usage_percent", host=HOST), "{{host}}"),
                   unit="percent", width=8, min=0, max=100, thresholds=above_rule(settings, "high_memory")),
        timeseries("Disk", q(gauge("graphwiz_system_disk_usage_percent", host=HOST), "{{host}} {{mount}}"),
                   unit="percent", width=8, min=0, max=100, thresholds=above_rule(settings, "disk_space")),
        timeseries("Memory used / available",
                   q(gauge("graphwiz_system_memory_usage_bytes", host=HOST), "{{host}} used"),
                   q(gauge("graphwiz_system_memory_available_bytes", host=HOST), "{{host}} available"),
                   unit="bytes", width=8),
        timeseries("Load (1 min)", q(gauge("graphwiz_system_load1", host=HOST), "{{host}}"), unit="none", width=8),
        timeseries("Network",
                   q(sum_(rate("graphwiz_system_network_sent_bytes_total", host=HOST), ("host",)), "{{host}} sent"),
                   q(sum_(rate("graphwiz_system_network_recv_bytes_total", host=HOST), ("host",)), "{{host}} received"),
                   unit="Bps", width=8),
    ))


def trading_dashboard(settings: Settings | None = None) -> Dashboard:
    """The default dashboard (``DashboardConfig.get_default_dashboard()``)."""
    settings = settings or Settings()
    return Dashboard(
        uid=UID,
        title="GraphWiz Trading Overview",
        description="Trading performance, exchanges, agents, risk, portfolio and hosts of the graphwiz trader.",
        rows=(_trading(settings), _exchanges(settings), _agents(), _risk(settings), _portfolio(), _system(settings)),
        variables=(
            Variable("host", "Host", "graphwiz_system_cpu_usage_percent"),
            Variable("exchange", "Exchange", "graphwiz_exchange_connected"),
            Variable("agent", "Agent", "graphwiz_agent_accuracy"),
        ),
    )
