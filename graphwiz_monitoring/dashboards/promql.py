"""Typed PromQL: the exporter's metric catalog and expression helpers that refuse wrong combinations.

Every dashboard panel and exported alert rule builds its expressions here, so a wrong metric type is
an error at build time instead of a silently wrong graph: ``rate()``/``increase()`` only over
counters (exposed with ``_total``) or a histogram's ``_bucket``/``_sum``/``_count`` series,
``histogram_quantile`` only over ``sum by (le, ...) (rate(<histogram>_bucket[w]))``, gauges plain.
Names and labels follow the metric contract in the project notes (metrics/collector.py exposes them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from graphwiz_monitoring.errors import DashboardError

# Window for rate()/increase(): four scrapes at the default 15 s interval with room for one miss.
RATE_WINDOW = "5m"
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


class MetricKind(str, Enum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class Metric:
    """One exposed metric family: its exposed name (counters end in ``_total``), type and labels."""

    name: str
    kind: MetricKind
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.kind is MetricKind.COUNTER) != self.name.endswith("_total"):
            raise DashboardError(f"{self.name}: counters, and only counters, are exposed with _total")
        if self.kind is MetricKind.HISTOGRAM and self.name.endswith(HISTOGRAM_SERIES):
            raise DashboardError(f"{self.name}: name the histogram family, not one of its series")


@dataclass(frozen=True)
class Regex:
    """A regular-expression label value (``label=~"..."``)."""

    pattern: str


def _m(name: str, kind: MetricKind, *labels: str) -> Metric:
    return Metric(name, kind, labels)


C, G, H = MetricKind.COUNTER, MetricKind.GAUGE, MetricKind.HISTOGRAM

CATALOG: dict[str, Metric] = {m.name: m for m in (
    _m("graphwiz_system_cpu_usage_percent", G, "host"),
    _m("graphwiz_system_memory_usage_bytes", G, "host"),
    _m("graphwiz_system_memory_available_bytes", G, "host"),
    _m("graphwiz_system_memory_usage_percent", G, "host"),
    _m("graphwiz_system_disk_usage_percent", G, "host", "mount"),
    _m("graphwiz_system_load1", G, "host"),
    _m("graphwiz_system_network_sent_bytes_total", C, "host", "interface"),
    _m("graphwiz_system_network_recv_bytes_total", C, "host", "interface"),
    _m("graphwiz_trading_total_trades_total", C),
    _m("graphwiz_trading_successful_trades_total", C),
    _m("graphwiz_trading_failed_trades_total", C),
    _m("graphwiz_trading_pnl_usd", G),
    _m("graphwiz_trading_pnl_daily_usd", G),
    _m("graphwiz_trading_win_rate", G),
    _m("graphwiz_trading_sharpe_ratio", G),
    _m("graphwiz_trading_max_drawdown", G),
    _m("graphwiz_trading_current_drawdown", G),
    _m("graphwiz_trading_execution_seconds", H),
    _m("graphwiz_exchange_latency_seconds", H, "exchange"),
    _m("graphwiz_exchange_fill_rate", G, "exchange"),
    _m("graphwiz_exchange_error_rate", G, "exchange"),
    _m("graphwiz_exchange_rate_limit_remaining", G, "exchange"),
    _m("graphwiz_exchange_connected", G, "exchange"),
    _m("graphwiz_agent_accuracy", G, "agent"),
    _m("graphwiz_agent_confidence", G, "agent"),
    _m("graphwiz_agent_predictions_total", C, "agent"),
    _m("graphwiz_risk_var_95_usd", G),
    _m("graphwiz_risk_var_99_usd", G),
    _m("graphwiz_risk_exposure_usd", G),
    _m("graphwiz_risk_leverage", G),
    _m("graphwiz_risk_correlation_avg", G),
    _m("graphwiz_risk_position_count", G),
    _m("graphwiz_portfolio_value_usd", G),
    _m("graphwiz_portfolio_cash_usd", G),
    _m("graphwiz_portfolio_positions_value_usd", G),
    _m("graphwiz_portfolio_returns_1h", G),
    _m("graphwiz_portfolio_returns_24h", G),
    _m("graphwiz_portfolio_returns_7d", G),
    _m("graphwiz_alert_active", G, "rule", "severity"),
    _m("graphwiz_alert_total", C, "rule", "severity"),
    _m("graphwiz_notifications_total", C, "channel", "outcome"),
    _m("graphwiz_dead_letters", G),
    _m("graphwiz_notify_outbox_entries", G),
    _m("graphwiz_notify_outbox_oldest_age_seconds", G),
    _m("graphwiz_health_status", G, "check"),
    _m("graphwiz_health_check_last_run_timestamp_seconds", G, "check"),
    _m("graphwiz_circuit_breaker_state", G, "name"),
    _m("graphwiz_circuit_breaker_failures", G, "name"),
    _m("graphwiz_recovery_actions_total", C, "action", "outcome"),
    _m("graphwiz_trading_paused", G),
    _m("graphwiz_trader_last_seen_timestamp_seconds", G),
    _m("graphwiz_trader_journal_bytes", G),
    _m("graphwiz_trader_journal_max_bytes", G),
    _m("graphwiz_trader_pending_records", G),
    _m("graphwiz_trader_records_refused_total", C),
    _m("graphwiz_trader_batches_resent_total", C),
    _m("graphwiz_trader_send_failures_total", C),
    _m("graphwiz_celery_queue_length", G, "queue"),
    _m("graphwiz_ingest_records_total", C, "kind"),
    _m("graphwiz_ingest_rejected_total", C, "kind"),
    # Written by Prometheus itself for every scrape target.
    _m("up", G, "job", "instance"),
    _m("scrape_duration_seconds", G, "job", "instance"),
)}


def metric(name: str) -> Metric:
    """The catalog entry for ``name``; raises DashboardError for a name the exporter does not expose."""
    try:
        return CATALOG[name]
    except KeyError:
        raise DashboardError(f"unknown metric {name!r}: not in the exporter's catalog") from None


def _selector(m: Metric, series: str, matchers: dict[str, str | Regex]) -> str:
    parts = []
    for label, value in matchers.items():
        if label not in m.labels:
            raise DashboardError(f"{m.name} has no label {label!r} (labels: {list(m.labels)})")
        # A Grafana variable may hold several values (or All = .*), so it is always a regex match.
        if isinstance(value, Regex) or value.startswith("$"):
            pattern = value.pattern if isinstance(value, Regex) else value
            parts.append(f'{label}=~"{pattern}"')
        else:
            parts.append(f'{label}="{value}"')
    return f"{series}{{{', '.join(parts)}}}" if parts else series


def gauge(name: str, **matchers: str | Regex) -> str:
    """A plain selector: a gauge's current value (or a counter's raw running total)."""
    m = metric(name)
    if m.kind is MetricKind.HISTOGRAM:
        raise DashboardError(f"{name} is a histogram: use quantile() or mean()")
    return _selector(m, m.name, matchers)


def _counter_series(name: str, suffix: str) -> tuple[Metric, str]:
    m = metric(name)
    if m.kind is MetricKind.COUNTER and not suffix:
        return m, m.name
    if m.kind is MetricKind.HISTOGRAM and suffix in HISTOGRAM_SERIES:
        return m, m.name + suffix
    raise DashboardError(f"rate()/increase() need a counter or a histogram series; {name}{suffix} is a {m.kind.value}")


def rate(name: str, window: str = RATE_WINDOW, suffix: str = "", **matchers: str | Regex) -> str:
    """Per-second rate of a counter (or of a histogram's ``_bucket``/``_sum``/``_count`` with ``suffix``)."""
    m, series = _counter_series(name, suffix)
    return f"rate({_selector(m, series, matchers)}[{window}])"


def increase(name: str, window: str = RATE_WINDOW, suffix: str = "", **matchers: str | Regex) -> str:
    """How much a counter grew over ``window``."""
    m, series = _counter_series(name, suffix)
    return f"increase({_selector(m, series, matchers)}[{window}])"


def _by(labels: Iterable[str]) -> str:
    labels = list(labels)
    return f" by ({', '.join(labels)})" if labels else ""


def sum_(expr: str, by: Iterable[str] = ()) -> str:
    return f"sum{_by(by)} ({expr})"


def quantile(q: float, name: str, by: Iterable[str] = (), window: str = RATE_WINDOW, **matchers: str | Regex) -> str:
    """``q``-quantile of a histogram, aggregated over everything but ``by``."""
    m = metric(name)
    if m.kind is not MetricKind.HISTOGRAM:
        raise DashboardError(f"histogram_quantile needs a histogram; {name} is a {m.kind.value}")
    if not 0 < q < 1:
        raise DashboardError(f"quantile must be in (0, 1), got {q}")
    buckets = sum_(rate(name, window, "_bucket", **matchers), ("le", *by))
    return f"histogram_quantile({q:g}, {buckets})"


def mean(name: str, by: Iterable[str] = (), window: str = RATE_WINDOW, **matchers: str | Regex) -> str:
    """Mean observation of a histogram over ``window`` (rate of the sum over rate of the count)."""
    by = tuple(by)
    return (f"{sum_(rate(name, window, '_sum', **matchers), by)} / "
            f"{sum_(rate(name, window, '_count', **matchers), by)}")
