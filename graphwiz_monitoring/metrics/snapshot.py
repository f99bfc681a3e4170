"""The metrics snapshot every rule, health check, exporter scrape and ``get_metrics()`` reads.

Built from Redis in three round trips (``load_state``: a pipeline, the host hashes, and one Lua read of
every exchange and agent), then computed by pure functions
(``compute_snapshot``, definitions in calculations.py). Missing values are None, so a rule never fires
on data nobody reported. Shape (what rules, checks and dashboards rely on; extra keys are additive)::

    system     cpu_percent / memory_percent / disk_percent (max over hosts), hosts{host: {...}}
    trading    total/successful/failed trades, pnl_usd, pnl_daily_usd, win_rate, sharpe_ratio,
               max_drawdown, current_drawdown (fractions), volume_usd, equity_usd, equity_source
    exchanges  {name: connected, p50/p95/p99_latency (s), fill_rate, error_rate, rate_limit_remaining}
    agents     {name: accuracy, confidence, predictions, failures (recent window)}
    risk       var_95_usd, var_99_usd, exposure_usd, leverage, correlation_avg, position_count
    portfolio  value_usd, cash_usd, positions_value_usd, returns_1h, returns_24h, returns_7d: the sum over the
               traders' latest portfolios (ingest.lua keeps it), so two bots do not overwrite each other
    neo4j      connected (from the trader's heartbeat info ``neo4j_connected``)
    trader     last_seen, age_seconds, host, pid, client (the shipping client's stats from its heartbeat, or None:
               journal_bytes, journal_max_bytes, refused, resent_batches, send_failures, pending_records)
    traders    {identity: portfolio{value_usd, cash_usd, positions_value_usd, exposure_usd, position_count,
               timestamp}, trading{total/successful/failed trades, pnl_usd, volume_usd, win_rate}, last_seen,
               age_seconds (Redis clock), stale (older than health_checks.trader_stale_seconds), host, pid, client,
               exchanges{name: connected}} per trader identity (``trader.name``, else its host name)
    monitoring the pipeline's own health (metrics/pipeline.py): beat/rules/heartbeat ages, Redis memory, queues
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, cast

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.events import EventType, MetricsEvent, publish
from graphwiz_monitoring.metrics import calculations as calc
from graphwiz_monitoring.metrics import pipeline
from graphwiz_monitoring.metrics.system import parse_host_fields
from graphwiz_monitoring.state import KeySpace, Store

RETURN_PERIODS_SECONDS = {"returns_1h": 3600, "returns_24h": 86_400, "returns_7d": 7 * 86_400}
CORRELATION_SNAPSHOTS = 120  # newest portfolio snapshots used for the correlation of position returns
WINDOW_BUCKET_SECONDS = 60  # see ingest.lua


@dataclass
class RawState:
    """Everything the snapshot and the exporter need, as read from Redis at one moment."""

    now: float
    redis_now: float | None = None  # the Redis clock at the read: traders' freshness is judged on it
    hosts: dict[str, dict[str, str]] = field(default_factory=dict)
    agg: dict[str, str] = field(default_factory=dict)
    pnl_daily: dict[str, str] = field(default_factory=dict)
    trade_pnls: list[str] = field(default_factory=list)
    exchanges: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> stats/latency/window sums
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> stats/failures
    portfolio: dict[str, str] = field(default_factory=dict)
    past_values: dict[str, str | None] = field(default_factory=dict)  # returns period -> snapshot JSON
    recent_snapshots: list[str] = field(default_factory=list)  # newest first
    heartbeat: dict[str, str] = field(default_factory=dict)
    ingest: dict[str, str] = field(default_factory=dict)
    traders: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # name -> portfolio/agg/heartbeat
    monitoring: dict[str, Any] = field(default_factory=dict)  # the section itself (metrics/pipeline.py)


def load_state(store: Store, keys: KeySpace, settings: Settings, now: float | None = None) -> RawState:
    """Read the raw metric state (two pipelined round trips); raises StateError if Redis is down."""
    now = time.time() if now is None else now
    redis_now = store.now()
    raw = RawState(now=now, redis_now=redis_now)
    pipe = store.r.pipeline(transaction=False)
    pipe.zrangebyscore(keys.hosts, now - settings.retention.host_stale_seconds, "+inf")
    pipe.hgetall(keys.trading_agg)
    pipe.hgetall(keys.pnl_daily)
    pipe.smembers(keys.exchanges)
    pipe.smembers(keys.agents)
    pipe.hgetall(keys.portfolio_latest)
    for seconds in RETURN_PERIODS_SECONDS.values():
        pipe.zrevrangebyscore(keys.portfolio_snapshots, now - seconds, "-inf", start=0, num=1)
    pipe.zrevrange(keys.portfolio_snapshots, 0, CORRELATION_SNAPSHOTS - 1)
    pipe.hgetall(keys.trader_heartbeat)
    pipe.hgetall(keys.ingest_stats)
    pipe.smembers(keys.traders)
    pipeline.queue_pipeline(pipe, keys, redis_now)
    replies = pipe.execute()
    own = pipeline.replies_count()
    raw.monitoring = pipeline.parse(replies[-own:], redis_now)
    (hosts, raw.agg, raw.pnl_daily, exchanges, agents, raw.portfolio, *past,
     raw.recent_snapshots, raw.heartbeat, raw.ingest, traders) = replies[:-own]
    raw.past_values = {name: (found[0] if found else None) for name, found in zip(RETURN_PERIODS_SECONDS, past, strict=True)}

    hosts, exchanges, agents = sorted(hosts), sorted(exchanges), sorted(agents)
    pipe = store.r.pipeline(transaction=False)
    traders = sorted(traders)
    for host in hosts:
        pipe.hgetall(keys.host_system(host))
    for name in traders:
        pipe.hgetall(keys.trader_portfolio(name))
        pipe.hgetall(keys.trader_agg(name))
        pipe.hgetall(keys.trader_heartbeat_of(name))
        pipe.hgetall(keys.trader_exchanges(name))
    replies = pipe.execute() if hosts or traders else []
    for fields, host in zip(replies[:len(hosts)], hosts, strict=True):
        if fields:  # the hash expired after the zset was read: the host is gone
            raw.hosts[host] = fields
    per_trader = replies[len(hosts):]
    for i, name in enumerate(traders):
        portfolio, agg, heartbeat, exchanges_seen = per_trader[4 * i:4 * i + 4]
        raw.traders[name] = {"portfolio": portfolio, "agg": agg, "heartbeat": heartbeat, "exchanges": exchanges_seen}
    per_name = [keys.trade_pnls]
    per_name += [k for name in exchanges for k in (keys.exchange_stats(name), keys.exchange_latency(name),
                                                   keys.exchange_window(name))]
    per_name += [k for name in agents for k in (keys.agent_stats(name), keys.agent_failures(name))]
    since_minute = int((now - settings.retention.rate_window_seconds) // WINDOW_BUCKET_SECONDS)
    failure_since = now - settings.retention.agent_failure_window_seconds
    data = read_metrics_script(store, per_name, exchanges=len(exchanges), agents=len(agents),
                               since_minute=since_minute, failure_since=failure_since)
    pnls = data.get("pnls")
    raw.trade_pnls = pnls.split(",") if isinstance(pnls, str) and pnls else []
    for name, (stats, samples, sums) in zip(exchanges, _list(data.get("ex")), strict=True):
        raw.exchanges[name] = {"stats": _pairs(stats), "latency": samples.split(",") if samples else [],
                               "window": sums if isinstance(sums, dict) else {}}
    for name, (stats, failures) in zip(agents, _list(data.get("ag")), strict=True):
        raw.agents[name] = {"stats": _pairs(stats), "failures": failures}
    return raw


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []  # cjson encodes an empty table as {}


def _pairs(flat: Any) -> dict[str, str]:
    flat = _list(flat)
    return dict(zip(flat[0::2], flat[1::2], strict=True))


def _f(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _i(value: Any) -> int:
    number = _f(value)
    return int(number) if number is not None else 0


def _max(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _system(raw: RawState) -> dict[str, Any]:
    hosts = {name: parse_host_fields(fields) for name, fields in raw.hosts.items()}
    disks = [pct for h in hosts.values() for pct in (h.get("disks") or {}).values()]
    return {
        "cpu_percent": _max([h["cpu_percent"] for h in hosts.values()]),
        "memory_percent": _max([h["memory_percent"] for h in hosts.values()]),
        "disk_percent": _max([_f(d) for d in disks]),
        "hosts": hosts,
    }


def _trading(raw: RawState, settings: Settings) -> dict[str, Any]:
    agg = raw.agg
    pnl_total = _f(agg.get("pnl_total")) or 0.0
    today = calc.utc_day(raw.now)
    daily = {int(day): float(v) for day, v in raw.pnl_daily.items() if day.lstrip("-").isdigit()}
    value = _f(raw.portfolio.get("value"))
    capital = settings.monitoring.initial_capital_usd
    if value is not None:  # portfolio snapshots are the better equity curve (they include unrealized P&L)
        equity, source = value, "portfolio"
        pv_peak = _f(agg.get("pv_peak"))
        current = calc.current_drawdown(pv_peak, value)
        max_dd = _f(agg.get("pv_max_drawdown"))
    elif capital is not None:
        equity, source = capital + pnl_total, "initial_capital+pnl"
        peak = _f(agg.get("pnl_peak")) or 0.0
        current = calc.current_drawdown(capital + max(peak, 0.0), equity)
        max_dd = _f(agg.get("max_drawdown")) if agg.get("capital") else current
    else:
        equity, source, current, max_dd = None, None, None, None
    if max_dd is not None and current is not None:
        max_dd = max(max_dd, current)
    return {
        "total_trades": _i(agg.get("total_trades")),
        "successful_trades": _i(agg.get("successful_trades")),
        "failed_trades": _i(agg.get("failed_trades")),
        "pnl_usd": pnl_total,
        "pnl_daily_usd": daily.get(today, 0.0),
        "win_rate": calc.win_rate(_i(agg.get("wins")), _i(agg.get("pnl_trades"))),
        "sharpe_ratio": calc.sharpe_ratio(calc.daily_returns(daily, equity, today)),
        "max_drawdown": max_dd,
        "current_drawdown": current,
        "volume_usd": _f(agg.get("volume_usd")) or 0.0,
        "equity_usd": equity,
        "equity_source": source,
    }


def _exchanges(raw: RawState) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, data in raw.exchanges.items():
        stats = data["stats"]
        sums = {k: int(data["window"].get(k, 0)) for k in ("o", "f", "e", "c")}  # summed over the rate window
        connected = stats.get("connected")
        out[name] = {
            "connected": None if connected is None else connected == "1",
            **calc.latency_percentiles(float(v) for v in data["latency"]),
            "fill_rate": calc.ratio(sums["f"], sums["o"]),
            "error_rate": calc.ratio(sums["e"], sums["o"] + sums["c"]),
            "rate_limit_remaining": _f(stats.get("rate_limit_remaining")),
        }
    return out


def _agents(raw: RawState) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, data in raw.agents.items():
        stats = data["stats"]
        out[name] = {
            "accuracy": calc.ratio(_i(stats.get("correct")), _i(stats.get("scored"))),
            "confidence": calc.ratio(_f(stats.get("confidence_sum")) or 0.0, _i(stats.get("confidence_n"))),
            "predictions": _i(stats.get("predictions")),
            "failures": int(data["failures"]),
        }
    return out


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _prices(snapshot: dict[str, Any]) -> dict[str, float]:
    prices: dict[str, float] = {}
    for pos in snapshot.get("positions") or []:
        price = _f(pos.get("price"))
        if price is None:
            quantity, value = _f(pos.get("quantity")), _f(pos.get("value"))
            price = abs(value / quantity) if quantity and value is not None else None
        if price is not None and price > 0:
            prices[str(pos.get("symbol"))] = price
    return prices


def _portfolio_and_risk(raw: RawState) -> tuple[dict[str, Any], dict[str, Any]]:
    latest = raw.portfolio
    value = _f(latest.get("value"))
    exposure = _f(latest.get("exposure"))
    portfolio = {
        "value_usd": value,
        "cash_usd": _f(latest.get("cash")),
        "positions_value_usd": _f(latest.get("positions_value")),
        "timestamp": _f(latest.get("timestamp")),
        **{name: calc.period_return(value, _f(_json(past).get("value")))
           for name, past in raw.past_values.items()},
    }
    history = [_prices(_json(text)) for text in reversed(raw.recent_snapshots)]
    pnls = [float(v) for v in raw.trade_pnls]
    risk = {
        "var_95_usd": calc.historical_var(pnls, 0.95),
        "var_99_usd": calc.historical_var(pnls, 0.99),
        "exposure_usd": exposure,
        "leverage": calc.leverage(exposure, value) if exposure is not None else None,
        "correlation_avg": calc.average_correlation(history),
        "position_count": _i(latest.get("position_count")) if latest else None,
    }
    return portfolio, risk


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("1", "true", "yes", "connected")


def _client_stats(text: str | None) -> dict[str, float] | None:
    """The client stats JSON the ingested heartbeat stored (ingest.lua), or None when none was reported."""
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _traders(raw: RawState, stale_after: float) -> dict[str, Any]:
    """Per trader identity; ``age_seconds`` on the Redis clock (now minus ``received_at``, the Redis time its
    last batch arrived), ``stale`` once that exceeds ``health_checks.trader_stale_seconds``."""
    out: dict[str, Any] = {}
    for name, data in raw.traders.items():
        p, agg, hb = data["portfolio"], data["agg"], data["heartbeat"]
        last_seen = _f(hb.get("last_seen"))
        received_at = _f(hb.get("received_at"))
        if received_at is not None and raw.redis_now is not None:
            age: float | None = max(0.0, raw.redis_now - received_at)
        else:  # data written before received_at existed: the trader's own clock is all there is
            age = None if last_seen is None else max(0.0, raw.now - last_seen)
        out[name] = {
            "portfolio": {"value_usd": _f(p.get("value")), "cash_usd": _f(p.get("cash")),
                          "positions_value_usd": _f(p.get("positions_value")), "exposure_usd": _f(p.get("exposure")),
                          "position_count": _i(p.get("position_count")) if p else None,
                          "timestamp": _f(p.get("timestamp"))},
            "trading": {"total_trades": _i(agg.get("total_trades")),
                        "successful_trades": _i(agg.get("successful_trades")),
                        "failed_trades": _i(agg.get("failed_trades")),
                        "pnl_usd": _f(agg.get("pnl_total")) or 0.0,
                        "volume_usd": _f(agg.get("volume_usd")) or 0.0,
                        "win_rate": calc.win_rate(_i(agg.get("wins")), _i(agg.get("pnl_trades")))},
            "last_seen": last_seen,
            "age_seconds": age,
            "stale": None if age is None else age > stale_after,
            "host": hb.get("host"), "pid": _i(hb.get("pid")) or None,
            "client": _client_stats(hb.get("client")),
            "exchanges": {ex: {"connected": v == "1"} for ex, v in sorted(data["exchanges"].items())
                          if not ex.endswith(":ts")},
        }
    return out


def compute_snapshot(raw: RawState, settings: Settings) -> dict[str, Any]:
    """The snapshot dict from raw state (pure)."""
    portfolio, risk = _portfolio_and_risk(raw)
    last_seen = _f(raw.heartbeat.get("last_seen"))
    return {
        "timestamp": raw.now,
        "system": _system(raw),
        "trading": _trading(raw, settings),
        "exchanges": _exchanges(raw),
        "agents": _agents(raw),
        "risk": risk,
        "portfolio": portfolio,
        "neo4j": {"connected": _flag(raw.heartbeat.get("info:neo4j_connected"))},
        "trader": {"last_seen": last_seen, "age_seconds": None if last_seen is None else max(0.0, raw.now - last_seen),
                   "host": raw.heartbeat.get("host"), "pid": _i(raw.heartbeat.get("pid")) or None,
                   "client": _client_stats(raw.heartbeat.get("client"))},
        "traders": _traders(raw, settings.health_checks.trader_stale_seconds),
        pipeline.SECTION: raw.monitoring,
    }


def build_snapshot(store: Store, keys: KeySpace, settings: Settings) -> dict[str, Any]:
    """The current metrics snapshot from Redis (StateError when Redis is down)."""
    return compute_snapshot(load_state(store, keys, settings), settings)


def read_metrics_script(store: Store, keys: list[str], *, exchanges: int, agents: int, since_minute: int,
                        failure_since: float) -> dict[str, Any]:
    """``metrics_read.lua``: the P&L samples, per-exchange and per-agent state in one consistent read."""
    return dict(json.loads(store.run_script("metrics_read", keys, [exchanges, agents, since_minute,
                                                                   repr(failure_since)])))


def publish_snapshot(store: Store, keys: KeySpace, settings: Settings) -> None:
    """Publish the current snapshot as a METRICS event (the live views refresh from it)."""
    publish(store, keys, EventType.METRICS, cast(MetricsEvent, build_snapshot(store, keys, settings)))
