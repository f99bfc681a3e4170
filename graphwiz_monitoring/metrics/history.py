"""History: Prometheus range queries and trading performance over a past window (from Redis).

``query_prometheus`` talks to the real Prometheus HTTP API (``/api/v1/query_range``) at
``monitoring.prometheus_url`` and raises ``PrometheusQueryError`` with the reason when Prometheus is
unreachable or rejects the query. ``performance_history`` needs no Prometheus: it reads the raw trade
stream and the portfolio snapshots kept in Redis (bounded by ``retention``).
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

import requests

from graphwiz_monitoring.errors import PrometheusQueryError
from graphwiz_monitoring.metrics import calculations as calc
from graphwiz_monitoring.metrics.codec import STREAM_FIELD, decode_entry
from graphwiz_monitoring.state import KeySpace, Store

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_POINTS = 11_000  # Prometheus refuses range queries with more points per series
HISTORY_POINTS = 288  # buckets in a performance history (5 min buckets over 24 h)
_DURATION = re.compile(r"^(\d+(\.\d+)?)(ms|s|m|h|d|w|y)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 31_536_000, None: 1}
_STREAM_READ_COUNT = 5000


def parse_duration(text: str | float | int) -> float:
    """'1m' -> 60.0, '15s' -> 15.0, 30 -> 30.0 (Prometheus duration syntax, single unit)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text).strip())
        if not match:
            raise PrometheusQueryError(f"resolution must be a duration like '15s', '1m', '1h', got {text!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(3)]
    if not seconds > 0 or math.isinf(seconds):
        raise PrometheusQueryError(f"resolution must be positive, got {text!r}")
    return seconds


def query_prometheus(prometheus_url: str, query: str, hours: float = 24, resolution: str | float = "1m",
                     *, timeout: float = DEFAULT_TIMEOUT_SECONDS, end: float | None = None) -> dict[str, Any]:
    """Range query over the last ``hours``; returns Prometheus' ``data`` ({"resultType", "result"})."""
    if not isinstance(query, str) or not query.strip():
        raise PrometheusQueryError("query must be a non-empty PromQL expression")
    if not (isinstance(hours, (int, float)) and hours > 0 and math.isfinite(hours)):
        raise PrometheusQueryError(f"hours must be a positive number, got {hours!r}")
    step = parse_duration(resolution)
    if hours * 3600 / step > MAX_POINTS:
        raise PrometheusQueryError(f"{hours} h at a {resolution} resolution is more than {MAX_POINTS} points; "
                                   "use a coarser resolution")
    end = time.time() if end is None else end
    url = prometheus_url.rstrip("/") + "/api/v1/query_range"
    params = {"query": query, "start": f"{end - hours * 3600:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
    try:
        response = requests.get(url, params=params, timeout=timeout)
    except requests.RequestException as exc:
        raise PrometheusQueryError(f"Prometheus at {prometheus_url} is unreachable: {type(exc).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        raise PrometheusQueryError(
            f"Prometheus at {prometheus_url} answered HTTP {response.status_code} without JSON") from None
    if response.status_code != 200 or body.get("status") != "success":
        raise PrometheusQueryError(f"Prometheus rejected the query ({body.get('errorType', response.status_code)}): "
                                   f"{body.get('error', 'no reason given')}")
    return body["data"]


def read_trades(store: Store, keys: KeySpace, since: float, until: float | None = None) -> list[dict[str, Any]]:
    """Trades from the raw history stream with ``since <= timestamp <= until`` (ingest-time bounded)."""
    until = time.time() if until is None else until
    # Stream ids are ingest times (ms); a trade is ingested after it happened, so start at `since`.
    start, trades = f"{int(since * 1000)}-0", []
    while True:
        entries = store.r.xrange(keys.trades, min=start, max="+", count=_STREAM_READ_COUNT)
        for _, fields in entries:
            value = fields.get(STREAM_FIELD)
            if value is None:
                continue
            try:
                trade = decode_entry(value)
            except (ValueError, IndexError, UnicodeDecodeError):
                continue
            if since <= trade["timestamp"] <= until:
                trades.append(trade)
        if len(entries) < _STREAM_READ_COUNT:
            break
        start = "(" + entries[-1][0]
    trades.sort(key=lambda t: t["timestamp"])
    return trades


def recent_trades(store: Store, keys: KeySpace, count: int = 20) -> list[dict[str, Any]]:
    """The ``count`` most recently ingested trades, newest first (one XREVRANGE: cheap at any trade rate)."""
    trades = []
    for _, fields in store.r.xrevrange(keys.trades, max="+", min="-", count=count):
        value = fields.get(STREAM_FIELD)
        try:
            trades.append(decode_entry(value))
        except (TypeError, ValueError, IndexError, UnicodeDecodeError):
            continue
    return trades


def performance_history(store: Store, keys: KeySpace, hours: float = 24, *, initial_capital: float | None = None,
                        now: float | None = None, trades: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Trading performance over the last ``hours``: totals, a bucketed P&L series and portfolio values.

    ``trades``: those of a longer window already read (``read_trades``), so a caller summing up two windows
    reads the stream once."""
    now = time.time() if now is None else now
    since = now - hours * 3600
    trades = (read_trades(store, keys, since, now) if trades is None
              else [t for t in trades if since <= t["timestamp"] <= now])
    bucket = max(60.0, hours * 3600 / HISTORY_POINTS)
    series: dict[int, dict[str, Any]] = {}
    cumulative = 0.0
    judged = wins = 0
    curve = [initial_capital] if initial_capital else []
    for trade in trades:
        index = int((trade["timestamp"] - since) // bucket)
        point = series.setdefault(index, {"timestamp": since + index * bucket, "trades": 0, "pnl_usd": 0.0})
        point["trades"] += 1
        pnl = trade["pnl"]
        if pnl is not None:
            judged += 1
            wins += pnl > 0
            point["pnl_usd"] += pnl
            cumulative += pnl
            if initial_capital:
                curve.append(initial_capital + cumulative)
        point["cumulative_pnl_usd"] = cumulative
    snapshots = store.r.zrangebyscore(keys.portfolio_snapshots, since, now, withscores=True)
    portfolio = []
    for raw, ts in snapshots:
        value = _value(raw)
        if value is not None:
            portfolio.append({"timestamp": ts, "value_usd": value})
    max_dd, current_dd = calc.drawdowns([p["value_usd"] for p in portfolio] if portfolio else curve)
    return {
        "hours": hours, "start": since, "end": now, "bucket_seconds": bucket,
        "trades": len(trades), "successful_trades": sum(1 for t in trades if t["success"]),
        "failed_trades": sum(1 for t in trades if not t["success"]),
        "pnl_usd": cumulative, "win_rate": calc.win_rate(wins, judged),
        "max_drawdown": max_dd, "current_drawdown": current_dd,
        "series": [series[i] for i in sorted(series)],
        "portfolio": portfolio,
    }


def _value(raw: str) -> float | None:
    try:
        value = json.loads(raw).get("value")
        return float(value) if value is not None else None
    except (ValueError, AttributeError, TypeError):
        return None


def daily_pnl(store: Store, keys: KeySpace, days: int, *, now: float | None = None) -> list[dict[str, Any]]:
    """The last ``days`` UTC days, newest first: ``{"day": "YYYY-MM-DD", "pnl_usd", "trades"}``.

    P&L from the per-day aggregate, trade counts from the raw trade stream (both bounded by ``retention``)."""
    now = time.time() if now is None else now
    today = calc.utc_day(now)
    first = today - days + 1
    stored = store.r.hgetall(keys.pnl_daily) or {}
    pnl = {int(d): float(v) for d, v in stored.items() if d.lstrip("-").isdigit() and _is_number(v)}
    counts: dict[int, int] = {}
    for trade in read_trades(store, keys, first * calc.SECONDS_PER_DAY, now):
        day = calc.utc_day(trade["timestamp"])
        counts[day] = counts.get(day, 0) + 1
    return [{"day": calc.day_label(day), "pnl_usd": pnl.get(day, 0.0), "trades": counts.get(day, 0)}
            for day in range(today, first - 1, -1)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
