"""Every metric family the exporter exposes, declared once: name, type, help and labels.

The exporter builds its families from these entries (exporter/families.py ``new_family``) and the
dashboards and exported Prometheus rules type-check their PromQL against them (dashboards/promql.py);
tests/integration/metrics/test_metrics_catalogue.py checks that a scrape exposes exactly these names.
Names are the exposed ones: counters end in ``_total`` (prometheus_client adds it to the family name).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


class MetricKind(str, Enum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class MetricSpec:
    """One exposed metric family."""

    name: str
    kind: MetricKind
    help: str
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.kind is MetricKind.COUNTER) != self.name.endswith("_total"):
            raise ValueError(f"{self.name}: counters, and only counters, are exposed with _total")
        if self.kind is MetricKind.HISTOGRAM and self.name.endswith(HISTOGRAM_SERIES):
            raise ValueError(f"{self.name}: name the histogram family, not one of its series")

    @property
    def family_name(self) -> str:
        """The name prometheus_client families take (without a counter's ``_total``)."""
        return self.name.removesuffix("_total") if self.kind is MetricKind.COUNTER else self.name


C, G, H = MetricKind.COUNTER, MetricKind.GAUGE, MetricKind.HISTOGRAM


def _m(name: str, kind: MetricKind, help_text: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, kind, help_text, labels)


CATALOGUE: dict[str, MetricSpec] = {m.name: m for m in (
    # system (per host)
    _m("graphwiz_system_cpu_usage_percent", G, "CPU usage percent", "host"),
    _m("graphwiz_system_memory_usage_bytes", G, "Memory in use (bytes)", "host"),
    _m("graphwiz_system_memory_available_bytes", G, "Memory available (bytes)", "host"),
    _m("graphwiz_system_memory_usage_percent", G, "Memory usage percent", "host"),
    _m("graphwiz_system_load1", G, "1-minute load average", "host"),
    _m("graphwiz_system_disk_usage_percent", G, "Disk usage percent per mount", "host", "mount"),
    _m("graphwiz_system_network_sent_bytes_total", C, "Bytes sent per interface", "host", "interface"),
    _m("graphwiz_system_network_recv_bytes_total", C, "Bytes received per interface", "host", "interface"),
    # trading
    _m("graphwiz_trading_total_trades_total", C, "Trades recorded"),
    _m("graphwiz_trading_successful_trades_total", C, "Successful trades"),
    _m("graphwiz_trading_failed_trades_total", C, "Failed trades"),
    _m("graphwiz_trading_pnl_usd", G, "Realized P&L since monitoring started (USD)"),
    _m("graphwiz_trading_pnl_daily_usd", G, "Realized P&L of the current UTC day (USD)"),
    _m("graphwiz_trading_win_ratio", G, "Winning trades / trades with a P&L (0..1)"),
    _m("graphwiz_trading_sharpe_ratio", G, "Sharpe ratio of daily returns, annualized sqrt(365)"),
    _m("graphwiz_trading_max_drawdown", G, "Maximum drawdown of the equity curve (0..1)"),
    _m("graphwiz_trading_current_drawdown", G, "Current drawdown from the equity peak (0..1)"),
    _m("graphwiz_trading_execution_seconds", H, "Trade execution time (seconds)"),
    # exchanges
    _m("graphwiz_exchange_latency_seconds", H, "Exchange API round-trip time (seconds)", "exchange"),
    _m("graphwiz_exchange_fill_ratio", G, "Filled / submitted orders (rate window)", "exchange"),
    _m("graphwiz_exchange_error_ratio", G, "Failed orders and calls / orders and calls (rate window)", "exchange"),
    _m("graphwiz_exchange_rate_limit_remaining", G, "API requests left in the current rate-limit window",
       "exchange"),
    _m("graphwiz_exchange_connected", G, "1 connected, 0 disconnected", "exchange"),
    # agents
    _m("graphwiz_agent_accuracy", G, "Correct / scored predictions (0..1)", "agent"),
    _m("graphwiz_agent_confidence", G, "Mean reported confidence (0..1)", "agent"),
    _m("graphwiz_agent_predictions_total", C, "Predictions recorded", "agent"),
    # risk and portfolio
    _m("graphwiz_risk_var_95_usd", G, "Historical one-trade VaR at 95% (USD loss)"),
    _m("graphwiz_risk_var_99_usd", G, "Historical one-trade VaR at 99% (USD loss)"),
    _m("graphwiz_risk_exposure_usd", G, "Sum of absolute position values (USD)"),
    _m("graphwiz_risk_leverage", G, "Exposure / portfolio value"),
    _m("graphwiz_risk_correlation_avg", G, "Average pairwise correlation of position returns"),
    _m("graphwiz_risk_positions", G, "Open positions"),
    _m("graphwiz_portfolio_value_usd", G, "Portfolio value (USD)"),
    _m("graphwiz_portfolio_cash_usd", G, "Cash (USD)"),
    _m("graphwiz_portfolio_positions_value_usd", G, "Value of positions (USD)"),
    _m("graphwiz_portfolio_returns_1h", G, "Portfolio return over 1h (fraction)"),
    _m("graphwiz_portfolio_returns_24h", G, "Portfolio return over 24h (fraction)"),
    _m("graphwiz_portfolio_returns_7d", G, "Portfolio return over 7d (fraction)"),
    # the trader and its client (from its heartbeat)
    _m("graphwiz_trader_last_seen_timestamp_seconds", G, "Last report from the trader (Unix time)"),
    _m("graphwiz_trader_journal_bytes", G, "Bytes in the trader client's journal (undelivered batches on disk)"),
    _m("graphwiz_trader_journal_max_bytes", G, "The journal's bound (trader.journal_max_bytes)"),
    _m("graphwiz_trader_pending_records", G, "Records the trader client holds in memory, not yet delivered"),
    _m("graphwiz_trader_records_refused_total", C,
       "Records refused with BackpressureError (memory and journal full)"),
    _m("graphwiz_trader_batches_resent_total", C, "Batches sent again because the broker lost them"),
    _m("graphwiz_trader_send_failures_total", C, "Failed attempts to hand a batch to the broker"),
    # per trader identity (trader.name, else its host name); the unlabelled families above are the totals
    _m("graphwiz_trader_portfolio_value_usd", G, "That trader's latest portfolio value (USD)", "trader"),
    _m("graphwiz_trader_portfolio_cash_usd", G, "That trader's latest cash (USD)", "trader"),
    _m("graphwiz_trader_portfolio_positions_value_usd", G, "That trader's latest value of positions (USD)",
       "trader"),
    _m("graphwiz_trader_pnl_usd", G, "That trader's realized P&L since monitoring started (USD)", "trader"),
    _m("graphwiz_trader_total_trades_total", C, "Trades recorded from that trader", "trader"),
    _m("graphwiz_trader_successful_trades_total", C, "Successful trades of that trader", "trader"),
    _m("graphwiz_trader_failed_trades_total", C, "Failed trades of that trader", "trader"),
    _m("graphwiz_trader_heartbeat_timestamp_seconds", G, "That trader's last heartbeat (Unix time)", "trader"),
    _m("graphwiz_trader_exchange_connected", G, "1 connected, 0 disconnected, as that trader last reported",
       "trader", "exchange"),
    # ingest and queues
    _m("graphwiz_ingest_records_total", C, "Records ingested", "kind"),
    _m("graphwiz_ingest_rejected_total", C, "Records rejected (dead-lettered)", "kind"),
    _m("graphwiz_ingest_duplicates_total", C, "Records ignored as already ingested", "kind"),
    _m("graphwiz_celery_queue_length", G, "Tasks waiting in the queue", "queue"),
    _m("graphwiz_celery_queue_consumers", G, "Live worker processes consuming the queue", "queue"),
    # alerting
    _m("graphwiz_alert_active", G, "Alerts currently firing", "rule", "severity"),
    _m("graphwiz_alert_acknowledged", G, "Alerts currently firing with an acknowledgement in force (no repeats, "
       "no escalation)", "rule", "severity"),
    _m("graphwiz_alert_total", C, "Alerts created", "rule", "severity"),
    _m("graphwiz_notifications_total", C,
       "Notifications by channel and outcome (sent, failed, dead_lettered, suppressed, maintenance)", "channel", "outcome"),
    _m("graphwiz_notifications_undeliverable_total", C,
       "Notifications asked for a channel this deployment has not configured (or disabled), with no other "
       "channel of the alert to deliver them: copied to the log channel", "channel"),
    _m("graphwiz_dead_letters", G, "Entries in the dead-letter list"),
    _m("graphwiz_notify_outbox_entries", G, "Notifications recorded but not yet handed to the notify queues"),
    _m("graphwiz_notify_outbox_oldest_age_seconds", G,
       "Age of the oldest outbox entry since recorded or last retried (0 when empty)"),
    # health, breakers, recovery
    _m("graphwiz_health_status", G,
       "Health check status: 0 healthy, 1 degraded, 2 unhealthy, 3 critical, -1 not judged", "check"),
    _m("graphwiz_health_check_last_run_timestamp_seconds", G, "When the health check last ran (Unix time)", "check"),
    _m("graphwiz_circuit_breaker_state", G, "Circuit breaker: 0 closed, 1 half_open, 2 open", "name"),
    _m("graphwiz_circuit_breaker_failures", G, "Consecutive failures counted by the breaker", "name"),
    _m("graphwiz_recovery_actions_total", C, "Recovery action attempts by outcome", "action", "outcome"),
    _m("graphwiz_trading_paused", G, "1 while the persistent trading-paused flag is set"),
    # the pipeline's own health (metrics/pipeline.py; ages on the Redis clock, absent until it first happened)
    _m("graphwiz_beat_tick_age_seconds", G, "Seconds since the active beat last ticked"),
    _m("graphwiz_rules_evaluation_age_seconds", G, "Seconds since the last periodic rule evaluation"),
    _m("graphwiz_heartbeat_ping_age_seconds", G, "Seconds since the dead-man's switch last pinged its URL"),
    _m("graphwiz_notify_dead_lettered_age_seconds", G, "Seconds since a notification was last dead-lettered"),
    _m("graphwiz_redis_memory_used_bytes", G, "Memory Redis uses (INFO used_memory)"),
    _m("graphwiz_redis_memory_max_bytes", G, "Redis maxmemory (0: no limit)"),
    # the exporter itself
    _m("graphwiz_exporter_redis_up", G, "1 when Redis answered during this scrape"),
    _m("graphwiz_exporter_provider_errors_total", C, "Failed family providers", "provider"),
)}
