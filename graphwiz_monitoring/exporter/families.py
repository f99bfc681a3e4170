"""Prometheus families of the metrics area (system, trading, exchange, agent, risk, portfolio, trader client,
ingest, queues).

Built at scrape time from one ``load_state`` read plus the snapshot computed from it, so the exported
numbers are exactly the ones rules and checks see. A value that is unknown (None) has no sample,
rather than a misleading 0. Counters are exposed with ``_total`` (prometheus_client appends it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Sample

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.metrics.calculations import LATENCY_BUCKETS_SECONDS
from graphwiz_monitoring.metrics.snapshot import RawState, compute_snapshot, load_state
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import queue_lengths

_LE = [repr(b) for b in LATENCY_BUCKETS_SECONDS] + ["+Inf"]


def _gauge(name: str, doc: str, value: Any) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc)
    if value is not None:
        family.add_metric([], float(value))
    return family


def _buckets(fields: dict[str, str], prefix: str) -> tuple[list[tuple[str, float]], float] | None:
    """Cumulative (le, count) pairs and the sum from non-cumulative ``<prefix>_b<i>`` hash fields."""
    count = fields.get(f"{prefix}_count")
    if count is None:
        return None
    running, out = 0.0, []
    for i, le in enumerate(_LE):
        running += float(fields.get(f"{prefix}_b{i}", 0))
        out.append((le, running))
    return out, float(fields.get(f"{prefix}_sum", 0.0))


def _system(snapshot: dict[str, Any]) -> Iterable[Metric]:
    hosts = snapshot["system"]["hosts"]
    specs = [("graphwiz_system_cpu_usage_percent", "CPU usage percent", "cpu_percent"),
             ("graphwiz_system_memory_usage_bytes", "Memory in use (bytes)", "memory_used_bytes"),
             ("graphwiz_system_memory_available_bytes", "Memory available (bytes)", "memory_available_bytes"),
             ("graphwiz_system_memory_usage_percent", "Memory usage percent", "memory_percent"),
             ("graphwiz_system_load1", "1-minute load average", "load1")]
    for name, doc, key in specs:
        family = GaugeMetricFamily(name, doc, labels=["host"])
        for host, data in hosts.items():
            if data.get(key) is not None:
                family.add_metric([host], data[key])
        yield family
    disk = GaugeMetricFamily("graphwiz_system_disk_usage_percent", "Disk usage percent per mount",
                             labels=["host", "mount"])
    sent = CounterMetricFamily("graphwiz_system_network_sent_bytes", "Bytes sent per interface",
                               labels=["host", "interface"])
    recv = CounterMetricFamily("graphwiz_system_network_recv_bytes", "Bytes received per interface",
                               labels=["host", "interface"])
    for host, data in hosts.items():
        for mount, percent in (data.get("disks") or {}).items():
            disk.add_metric([host, mount], float(percent))
        for interface, counters in (data.get("network") or {}).items():
            sent.add_metric([host, interface], float(counters.get("sent", 0)))
            recv.add_metric([host, interface], float(counters.get("recv", 0)))
    yield from (disk, sent, recv)


def _trading(raw: RawState, snapshot: dict[str, Any]) -> Iterable[Metric]:
    t = snapshot["trading"]
    yield CounterMetricFamily("graphwiz_trading_total_trades", "Trades recorded", value=t["total_trades"])
    yield CounterMetricFamily("graphwiz_trading_successful_trades", "Successful trades", value=t["successful_trades"])
    yield CounterMetricFamily("graphwiz_trading_failed_trades", "Failed trades", value=t["failed_trades"])
    yield _gauge("graphwiz_trading_pnl_usd", "Realized P&L since monitoring started (USD)", t["pnl_usd"])
    yield _gauge("graphwiz_trading_pnl_daily_usd", "Realized P&L of the current UTC day (USD)", t["pnl_daily_usd"])
    yield _gauge("graphwiz_trading_win_rate", "Winning trades / trades with a P&L (0..1)", t["win_rate"])
    yield _gauge("graphwiz_trading_sharpe_ratio", "Sharpe ratio of daily returns, annualized sqrt(365)",
                 t["sharpe_ratio"])
    yield _gauge("graphwiz_trading_max_drawdown", "Maximum drawdown of the equity curve (0..1)", t["max_drawdown"])
    yield _gauge("graphwiz_trading_current_drawdown", "Current drawdown from the equity peak (0..1)",
                 t["current_drawdown"])
    execution = HistogramMetricFamily("graphwiz_trading_execution_seconds", "Trade execution time (seconds)")
    buckets = _buckets(raw.agg, "exec")
    if buckets:
        execution.add_metric([], buckets[0], buckets[1])
    yield execution


def _exchanges(raw: RawState, snapshot: dict[str, Any]) -> Iterable[Metric]:
    latency = HistogramMetricFamily("graphwiz_exchange_latency_seconds", "Exchange API round-trip time (seconds)",
                                    labels=["exchange"])
    gauges = {
        "fill_rate": GaugeMetricFamily("graphwiz_exchange_fill_rate", "Filled / submitted orders (rate window)",
                                       labels=["exchange"]),
        "error_rate": GaugeMetricFamily("graphwiz_exchange_error_rate",
                                        "Failed orders and calls / orders and calls (rate window)",
                                        labels=["exchange"]),
        "rate_limit_remaining": GaugeMetricFamily("graphwiz_exchange_rate_limit_remaining",
                                                  "API requests left in the current rate-limit window",
                                                  labels=["exchange"]),
        "connected": GaugeMetricFamily("graphwiz_exchange_connected", "1 connected, 0 disconnected",
                                       labels=["exchange"]),
    }
    for name, data in snapshot["exchanges"].items():
        buckets = _buckets(raw.exchanges[name]["stats"], "lat")
        if buckets:
            latency.add_metric([name], buckets[0], buckets[1])
        for key, family in gauges.items():
            if data.get(key) is not None:
                family.add_metric([name], float(data[key]))
    yield latency
    yield from gauges.values()


def _agents(snapshot: dict[str, Any]) -> Iterable[Metric]:
    accuracy = GaugeMetricFamily("graphwiz_agent_accuracy", "Correct / scored predictions (0..1)", labels=["agent"])
    confidence = GaugeMetricFamily("graphwiz_agent_confidence", "Mean reported confidence (0..1)", labels=["agent"])
    predictions = CounterMetricFamily("graphwiz_agent_predictions", "Predictions recorded", labels=["agent"])
    # Samples appended directly: add_metric's generic label handling is most of the cost with many agents.
    acc, conf, count = accuracy.samples.append, confidence.samples.append, predictions.samples.append
    for name, data in snapshot["agents"].items():
        label = {"agent": name}
        if data["accuracy"] is not None:
            acc(Sample("graphwiz_agent_accuracy", label, data["accuracy"], None, None))
        if data["confidence"] is not None:
            conf(Sample("graphwiz_agent_confidence", label, data["confidence"], None, None))
        count(Sample("graphwiz_agent_predictions_total", label, float(data["predictions"]), None, None))
    yield from (accuracy, confidence, predictions)


def _risk_portfolio_trader(snapshot: dict[str, Any]) -> Iterable[Metric]:
    risk, portfolio = snapshot["risk"], snapshot["portfolio"]
    yield _gauge("graphwiz_risk_var_95_usd", "Historical one-trade VaR at 95% (USD loss)", risk["var_95_usd"])
    yield _gauge("graphwiz_risk_var_99_usd", "Historical one-trade VaR at 99% (USD loss)", risk["var_99_usd"])
    yield _gauge("graphwiz_risk_exposure_usd", "Sum of absolute position values (USD)", risk["exposure_usd"])
    yield _gauge("graphwiz_risk_leverage", "Exposure / portfolio value", risk["leverage"])
    yield _gauge("graphwiz_risk_correlation_avg", "Average pairwise correlation of position returns",
                 risk["correlation_avg"])
    yield _gauge("graphwiz_risk_position_count", "Open positions", risk["position_count"])
    yield _gauge("graphwiz_portfolio_value_usd", "Portfolio value (USD)", portfolio["value_usd"])
    yield _gauge("graphwiz_portfolio_cash_usd", "Cash (USD)", portfolio["cash_usd"])
    yield _gauge("graphwiz_portfolio_positions_value_usd", "Value of positions (USD)", portfolio["positions_value_usd"])
    for period in ("1h", "24h", "7d"):
        yield _gauge(f"graphwiz_portfolio_returns_{period}", f"Portfolio return over {period} (fraction)",
                     portfolio[f"returns_{period}"])
    yield _gauge("graphwiz_trader_last_seen_timestamp_seconds", "Last report from the trader (Unix time)",
                 snapshot["trader"]["last_seen"])


# (family, help, stats key, counter?): the trader client's delivery state from its heartbeat (models.ClientStats).
# Unlabelled like graphwiz_trader_last_seen_timestamp_seconds: one heartbeat hash holds the last trader's
# report, and the counters are per process, so a trader restart is a counter reset, which rate() handles.
_CLIENT_SPECS = (
    ("graphwiz_trader_journal_bytes", "Bytes in the trader client's journal (undelivered batches on disk)",
     "journal_bytes", False),
    ("graphwiz_trader_journal_max_bytes", "The journal's bound (trader.journal_max_bytes)", "journal_max_bytes",
     False),
    ("graphwiz_trader_pending_records", "Records the trader client holds in memory, not yet delivered",
     "pending_records", False),
    ("graphwiz_trader_records_refused", "Records refused with BackpressureError (memory and journal full)",
     "refused", True),
    ("graphwiz_trader_batches_resent", "Batches sent again because the broker lost them", "resent_batches", True),
    ("graphwiz_trader_send_failures", "Failed attempts to hand a batch to the broker", "send_failures", True),
)


def _trader_client(snapshot: dict[str, Any]) -> Iterable[Metric]:
    stats = snapshot["trader"]["client"] or {}
    for name, doc, key, counter in _CLIENT_SPECS:
        family = (CounterMetricFamily if counter else GaugeMetricFamily)(name, doc)
        if stats.get(key) is not None:  # no client ever reported: no sample, rather than a misleading 0
            family.add_metric([], stats[key])
        yield family


def _ingest(raw: RawState) -> Iterable[Metric]:
    families = {
        "records": CounterMetricFamily("graphwiz_ingest_records", "Records ingested", labels=["kind"]),
        "rejected": CounterMetricFamily("graphwiz_ingest_rejected", "Records rejected (dead-lettered)",
                                        labels=["kind"]),
        "duplicates": CounterMetricFamily("graphwiz_ingest_duplicates", "Records ignored as already ingested",
                                          labels=["kind"]),
    }
    for field, value in sorted(raw.ingest.items()):
        what, _, kind = field.partition(":")
        if what in families and kind:
            families[what].add_metric([kind], float(value))
    yield from families.values()


def metrics_families(store: Store, keys: KeySpace, settings: Settings) -> Iterable[Metric]:
    """Every family of the metrics area, from one consistent read of Redis."""
    raw = load_state(store, keys, settings)
    snapshot = compute_snapshot(raw, settings)
    yield from _system(snapshot)
    yield from _trading(raw, snapshot)
    yield from _exchanges(raw, snapshot)
    yield from _agents(snapshot)
    yield from _risk_portfolio_trader(snapshot)
    yield from _trader_client(snapshot)
    yield from _ingest(raw)


def queue_families(store: Store, queues: Sequence[str]) -> Iterable[Metric]:
    """graphwiz_celery_queue_length{queue}: tasks waiting in each queue."""
    family = GaugeMetricFamily("graphwiz_celery_queue_length", "Tasks waiting in the queue", labels=["queue"])
    for queue, length in queue_lengths(store, queues).items():
        family.add_metric([queue], float(length))
    yield family


def snapshot_json(store: Store, keys: KeySpace, settings: Settings) -> str:
    """The snapshot as JSON (the exporter's ``/snapshot`` debugging endpoint)."""
    return json.dumps(compute_snapshot(load_state(store, keys, settings), settings), default=str)
