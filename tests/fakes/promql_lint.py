"""An independent PromQL type check for the committed dashboards (does not use the builder's catalog).

The metric contract below is copied from the project notes (COMMON.md), so a typo or a wrong type in
the builder's catalog is caught here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "dashboards"

COUNTERS = {
    "graphwiz_system_network_sent_bytes_total", "graphwiz_system_network_recv_bytes_total",
    "graphwiz_trading_total_trades_total", "graphwiz_trading_successful_trades_total",
    "graphwiz_trading_failed_trades_total", "graphwiz_agent_predictions_total", "graphwiz_alert_total",
    "graphwiz_trader_total_trades_total", "graphwiz_trader_successful_trades_total",
    "graphwiz_trader_failed_trades_total",
    "graphwiz_notifications_total", "graphwiz_notifications_undeliverable_total",
    "graphwiz_recovery_actions_total", "graphwiz_ingest_records_total",
    "graphwiz_ingest_rejected_total", "graphwiz_trader_records_refused_total", "graphwiz_trader_batches_resent_total",
    "graphwiz_trader_send_failures_total", "graphwiz_ingest_duplicates_total", "graphwiz_exporter_provider_errors_total",
}
HISTOGRAMS = {"graphwiz_trading_execution_seconds", "graphwiz_exchange_latency_seconds"}
GAUGES = {
    "graphwiz_system_cpu_usage_percent", "graphwiz_system_memory_usage_bytes",
    "graphwiz_system_memory_available_bytes", "graphwiz_system_memory_usage_percent",
    "graphwiz_system_disk_usage_percent", "graphwiz_system_load1",
    "graphwiz_trading_pnl_usd", "graphwiz_trading_pnl_daily_usd", "graphwiz_trading_win_ratio",
    "graphwiz_trading_sharpe_ratio", "graphwiz_trading_max_drawdown", "graphwiz_trading_current_drawdown",
    "graphwiz_exchange_fill_ratio", "graphwiz_exchange_error_ratio", "graphwiz_exchange_rate_limit_remaining",
    "graphwiz_exchange_connected", "graphwiz_agent_accuracy", "graphwiz_agent_confidence",
    "graphwiz_risk_var_95_usd", "graphwiz_risk_var_99_usd", "graphwiz_risk_exposure_usd", "graphwiz_risk_leverage",
    "graphwiz_risk_correlation_avg", "graphwiz_risk_positions",
    "graphwiz_portfolio_value_usd", "graphwiz_portfolio_cash_usd", "graphwiz_portfolio_positions_value_usd",
    "graphwiz_portfolio_returns_1h", "graphwiz_portfolio_returns_24h", "graphwiz_portfolio_returns_7d",
    "graphwiz_alert_active", "graphwiz_alert_acknowledged", "graphwiz_dead_letters", "graphwiz_health_status",
    "graphwiz_health_check_last_run_timestamp_seconds", "graphwiz_circuit_breaker_state",
    "graphwiz_circuit_breaker_failures", "graphwiz_trading_paused", "graphwiz_trader_last_seen_timestamp_seconds",
    "graphwiz_celery_queue_length", "graphwiz_celery_queue_consumers", "graphwiz_trader_journal_bytes",
    "graphwiz_trader_journal_max_bytes",
    "graphwiz_trader_pending_records", "graphwiz_notify_outbox_entries", "graphwiz_notify_outbox_oldest_age_seconds",
    "graphwiz_exporter_redis_up",
    "graphwiz_beat_tick_age_seconds", "graphwiz_rules_evaluation_age_seconds", "graphwiz_heartbeat_ping_age_seconds",
    "graphwiz_notify_dead_lettered_age_seconds", "graphwiz_redis_memory_used_bytes", "graphwiz_redis_memory_max_bytes",
    "graphwiz_trader_portfolio_value_usd", "graphwiz_trader_portfolio_cash_usd",
    "graphwiz_trader_portfolio_positions_value_usd", "graphwiz_trader_pnl_usd",
    "graphwiz_trader_heartbeat_timestamp_seconds", "graphwiz_trader_exchange_connected",
    "up", "scrape_duration_seconds",  # Prometheus' own per-target series
}
SERIES = COUNTERS | GAUGES | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
RATE_OK = COUNTERS | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}

_KEYWORDS = {"or", "and", "unless", "bool", "on", "ignoring", "group_left", "group_right", "offset", "by", "without"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def _strip(expr: str) -> str:
    """Remove strings, label matchers, ranges and by/without clauses: what is left names series."""
    expr = _STRING.sub('""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    return re.sub(r"\b(by|without)\s*\([^)]*\)", "", expr)


def _call_args(expr: str, func: str) -> Iterator[str]:
    """The argument text of every call of ``func`` (balanced parentheses)."""
    for match in re.finditer(rf"\b{func}\s*\(", expr):
        depth, start = 1, match.end()
        for i in range(start, len(expr)):
            depth += {"(": 1, ")": -1}.get(expr[i], 0)
            if depth == 0:
                yield expr[start:i]
                break


def series_names(expr: str) -> set[str]:
    stripped = _strip(expr)
    names = set()
    for match in _IDENT.finditer(stripped):
        following = stripped[match.end():].lstrip()
        if not following.startswith("(") and match.group() not in _KEYWORDS:
            names.add(match.group())
    return names


def problems(expr: str) -> list[str]:
    """Type errors in one expression (empty list: fine)."""
    out = [f"unknown series {n}" for n in sorted(series_names(expr) - SERIES)]
    stripped = _strip(expr)
    for func in ("rate", "irate", "increase"):
        for args in _call_args(stripped, func):
            for name in series_names(args):
                if name not in RATE_OK:
                    out.append(f"{func}() over {name}, which is not a counter or histogram series")
    inside_rate = {n for f in ("rate", "irate", "increase") for a in _call_args(stripped, f) for n in series_names(a)}
    for name in series_names(expr):
        if name.endswith("_bucket") and name not in inside_rate:
            out.append(f"{name} used without rate()")
        if name in COUNTERS and name not in inside_rate and not re.fullmatch(rf"\s*{name}\s*(\{{[^}}]*\}})?\s*", expr):
            out.append(f"counter {name} used in arithmetic without rate()/increase()")
    for args in _call_args(stripped, "histogram_quantile"):
        inner = series_names(args)
        if not inner or any(not n.endswith("_bucket") for n in inner):
            out.append(f"histogram_quantile over {sorted(inner)}, not only _bucket series")
        if not re.search(r"sum\s+by\s*\([^)]*\ble\b", _STRING.sub('""', expr)):
            out.append("histogram_quantile without sum by (le, ...)")
        if "rate(" not in args:
            out.append("histogram_quantile without rate() of the buckets")
    return out


def committed_dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def dashboard_exprs(dashboard: dict) -> Iterator[tuple[dict, str]]:
    """(panel, expr) for every query of every panel."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel, target["expr"]
