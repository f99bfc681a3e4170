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

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.exporter.exposition import new_family
from graphwiz_monitoring.metrics.calculations import LATENCY_BUCKETS_SECONDS
from graphwiz_monitoring.metrics.snapshot import RawState, compute_snapshot, load_state
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import queue_lengths

_LE = [repr(b) for b in LATENCY_BUCKETS_SECONDS] + ["+Inf"]


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
    specs = [("graphwiz_system_cpu_usage_percent", "cpu_percent"),
             ("graphwiz_system_memory_usage_bytes", "memory_used_bytes"),
             ("graphwiz_system_memory_available_bytes", "memory_available_bytes"),
             ("graphwiz_system_memory_usage_percent", "memory_percent"),
             ("graphwiz_system_load1", "load1")]
    for name, key in specs:
        family = new_family(name)
        for host, data in hosts.items():
            if data.get(key) is not None:
                family.add_metric([host], data[key])
        yield family
    disk = new_family("graphwiz_system_disk_usage_percent")
    sent = new_family("graphwiz_system_network_sent_bytes_total")
    recv = new_family("graphwiz_system_network_recv_bytes_total")
    for host, data in hosts.items():
        for mount, percent in (data.get("disks") or {}).items():
            disk.add_metric([host, mount], float(percent))
        for interface, counters in (data.get("network") or {}).items():
            sent.add_metric([host, interface], float(counters.get("sent", 0)))
            recv.add_metric([host, interface], float(counters.get("recv", 0)))
    yield from (disk, sent, recv)


def _trading(raw: RawState, snapshot: dict[str, Any]) -> Iterable[Metric]:
    t = snapshot["trading"]
    yield new_family("graphwiz_trading_total_trades_total", t["total_trades"])
    yield new_family("graphwiz_trading_successful_trades_total", t["successful_trades"])
    yield new_family("graphwiz_trading_failed_trades_total", t["failed_trades"])
    yield new_family("graphwiz_trading_pnl_usd", t["pnl_usd"])
    yield new_family("graphwiz_trading_pnl_daily_usd", t["pnl_daily_usd"])
    yield new_family("graphwiz_trading_win_ratio", t["win_rate"])
    yield new_family("graphwiz_trading_sharpe_ratio", t["sharpe_ratio"])
    yield new_family("graphwiz_trading_max_drawdown", t["max_drawdown"])
    yield new_family("graphwiz_trading_current_drawdown", t["current_drawdown"])
    execution = new_family("graphwiz_trading_execution_seconds")
    buckets = _buckets(raw.agg, "exec")
    if buckets:
        execution.add_metric([], buckets[0], buckets[1])
    yield execution


def _exchanges(raw: RawState, snapshot: dict[str, Any]) -> Iterable[Metric]:
    latency = new_family("graphwiz_exchange_latency_seconds")
    gauges = {
        "fill_rate": new_family("graphwiz_exchange_fill_ratio"),
        "error_rate": new_family("graphwiz_exchange_error_ratio"),
        "rate_limit_remaining": new_family("graphwiz_exchange_rate_limit_remaining"),
        "connected": new_family("graphwiz_exchange_connected"),
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
    accuracy = new_family("graphwiz_agent_accuracy")
    confidence = new_family("graphwiz_agent_confidence")
    predictions = new_family("graphwiz_agent_predictions_total")
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
    yield new_family("graphwiz_risk_var_95_usd", risk["var_95_usd"])
    yield new_family("graphwiz_risk_var_99_usd", risk["var_99_usd"])
    yield new_family("graphwiz_risk_exposure_usd", risk["exposure_usd"])
    yield new_family("graphwiz_risk_leverage", risk["leverage"])
    yield new_family("graphwiz_risk_correlation_avg", risk["correlation_avg"])
    yield new_family("graphwiz_risk_positions", risk["position_count"])
    yield new_family("graphwiz_portfolio_value_usd", portfolio["value_usd"])
    yield new_family("graphwiz_portfolio_cash_usd", portfolio["cash_usd"])
    yield new_family("graphwiz_portfolio_positions_value_usd", portfolio["positions_value_usd"])
    for period in ("1h", "24h", "7d"):
        yield new_family(f"graphwiz_portfolio_returns_{period}", portfolio[f"returns_{period}"])
    yield new_family("graphwiz_trader_last_seen_timestamp_seconds", snapshot["trader"]["last_seen"])


# (family, stats key): the trader client's delivery state from its heartbeat (models.ClientStats).
# Unlabelled like graphwiz_trader_last_seen_timestamp_seconds: one heartbeat hash holds the last trader's
# report, and the counters are per process, so a trader restart is a counter reset, which rate() handles.
_CLIENT_SPECS = (
    ("graphwiz_trader_journal_bytes", "journal_bytes"),
    ("graphwiz_trader_journal_max_bytes", "journal_max_bytes"),
    ("graphwiz_trader_pending_records", "pending_records"),
    ("graphwiz_trader_records_refused_total", "refused"),
    ("graphwiz_trader_batches_resent_total", "resent_batches"),
    ("graphwiz_trader_send_failures_total", "send_failures"),
)


def _trader_client(snapshot: dict[str, Any]) -> Iterable[Metric]:
    stats = snapshot["trader"]["client"] or {}
    for name, key in _CLIENT_SPECS:
        yield new_family(name, stats.get(key))  # no client ever reported: no sample, rather than a misleading 0


# (family, snapshot traders.<name> section, key): per trader identity, labelled `trader`.
_TRADER_SPECS = (
    ("graphwiz_trader_portfolio_value_usd", "portfolio", "value_usd"),
    ("graphwiz_trader_portfolio_cash_usd", "portfolio", "cash_usd"),
    ("graphwiz_trader_portfolio_positions_value_usd", "portfolio", "positions_value_usd"),
    ("graphwiz_trader_pnl_usd", "trading", "pnl_usd"),
    ("graphwiz_trader_total_trades_total", "trading", "total_trades"),
    ("graphwiz_trader_successful_trades_total", "trading", "successful_trades"),
    ("graphwiz_trader_failed_trades_total", "trading", "failed_trades"),
    ("graphwiz_trader_heartbeat_timestamp_seconds", None, "last_seen"),
)


def _traders(snapshot: dict[str, Any]) -> Iterable[Metric]:
    for name, section, key in _TRADER_SPECS:
        family = new_family(name)
        for trader, data in snapshot["traders"].items():
            value = (data[section] if section else data).get(key)
            if value is not None:
                family.add_metric([trader], float(value))
        yield family
    connected = new_family("graphwiz_trader_exchange_connected")
    for trader, data in snapshot["traders"].items():
        for exchange, status in data["exchanges"].items():
            connected.add_metric([trader, exchange], 1.0 if status["connected"] else 0.0)
    yield connected


def _monitoring(snapshot: dict[str, Any]) -> Iterable[Metric]:
    """The pipeline's own health (the snapshot's monitoring section): what the self-monitoring rules read."""
    section = snapshot.get("monitoring") or {}
    for family, field in (("graphwiz_beat_tick_age_seconds", "beat_age_seconds"),
                          ("graphwiz_rules_evaluation_age_seconds", "rules_age_seconds"),
                          ("graphwiz_heartbeat_ping_age_seconds", "heartbeat_age_seconds"),
                          ("graphwiz_notify_dead_lettered_age_seconds", "notify_dead_lettered_age_seconds"),
                          ("graphwiz_redis_memory_used_bytes", "redis_used_memory_bytes"),
                          ("graphwiz_redis_memory_max_bytes", "redis_maxmemory_bytes")):
        yield new_family(family, section.get(field))


def _ingest(raw: RawState) -> Iterable[Metric]:
    families = {
        "records": new_family("graphwiz_ingest_records_total"),
        "rejected": new_family("graphwiz_ingest_rejected_total"),
        "duplicates": new_family("graphwiz_ingest_duplicates_total"),
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
    yield from _traders(snapshot)
    yield from _ingest(raw)
    yield from _monitoring(snapshot)


def queue_families(store: Store, queues: Sequence[str]) -> Iterable[Metric]:
    """graphwiz_celery_queue_length{queue}: tasks waiting in each queue; graphwiz_celery_queue_consumers{queue}:
    live worker processes consuming it (0: what waits there is never taken)."""
    family = new_family("graphwiz_celery_queue_length")
    for queue, length in queue_lengths(store, queues).items():
        family.add_metric([queue], float(length))
    yield family
    consumers = new_family("graphwiz_celery_queue_consumers")
    for queue, count in queue_consumer_counts(store, queues).items():
        consumers.add_metric([queue], float(count))
    yield consumers


def queue_consumer_counts(store: Store, queues: Sequence[str]) -> dict[str, int]:
    """Live consumer processes of each queue, from the workers' heartbeats (celery/liveness.py).

    An entry holds the Redis time it lapses; one not refreshed by then (its worker died) is not counted.
    """
    now = store.now()
    pipe = store.r.pipeline(transaction=False)
    for queue in queues:
        pipe.zcount(KeySpace.queue_consumers(queue), f"({now}", "+inf")
    return {queue: int(count) for queue, count in zip(queues, pipe.execute(), strict=True)}


def snapshot_json(store: Store, keys: KeySpace, settings: Settings) -> str:
    """The snapshot as JSON (the exporter's ``/snapshot`` debugging endpoint)."""
    return json.dumps(compute_snapshot(load_state(store, keys, settings), settings), default=str)
