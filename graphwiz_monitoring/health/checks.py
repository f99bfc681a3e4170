"""The 8 health checks. Each is a pure judgement over two sources: active probes a worker runs itself
(probes.py) and what the trader reported (reporter.py), with thresholds from
``health_checks.checks[name].thresholds``.

A check with no source at all says NOT_CONFIGURED (distinct from healthy). A trader whose last
report is older than ``health_checks.trader_stale_seconds`` (on the Redis clock) makes every check that
relies on it UNHEALTHY, with ``details["trader_stale"] = True``: recovery then skips actions the trader
would run, and the check's breaker does not count it (``caused_by_absent_trader``: the checked service
was not judged at all). ``details["failing"]`` names what recovery should act on (exchanges, agents).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.health.models import HealthResult, HealthStatus
from graphwiz_monitoring.health.probes import probe_disks, probe_exchanges, probe_neo4j, probe_system
from graphwiz_monitoring.health.trader_report import TraderReport, read_trader_report
from graphwiz_monitoring.state import KeySpace, Store

log = logging.getLogger(__name__)


class CheckContext:
    """What a check may look at; sources are loaded lazily and at most once."""

    def __init__(self, settings: Settings, store: Store, keys: KeySpace, name: str) -> None:
        self.settings = settings
        self.store = store
        self.keys = keys
        self.name = name
        self.thresholds = settings.health_checks.checks[name].thresholds

    @functools.cached_property
    def trader(self) -> TraderReport | None:
        return read_trader_report(self.store, self.keys, self.settings.health_checks.trader_stale_seconds)

    @functools.cached_property
    def snapshot(self) -> dict[str, Any]:
        """The metrics snapshot (metrics/snapshot.py), or {} where the metrics area is not there."""
        try:
            from graphwiz_monitoring.metrics.snapshot import build_snapshot
        except ImportError:
            return {}
        try:
            return build_snapshot(self.store, self.keys, self.settings) or {}
        except Exception:  # a broken snapshot must not turn every check red
            log.exception("metrics snapshot failed; judging from trader reports only")
            return {}


def _result(ctx: CheckContext, status: HealthStatus, message: str, **details: Any) -> HealthResult:
    return HealthResult(ctx.name, status, message, details)


def _trader_section(ctx: CheckContext, section: str) -> tuple[dict[str, Any] | None, HealthResult | None]:
    """(data, early result): early is UNHEALTHY when the trader that reports this section went stale."""
    report = ctx.trader
    data = getattr(report, section) if report else None
    if report is None or data is None:
        return None, None
    if report.stale:
        limit = ctx.settings.health_checks.trader_stale_seconds
        return data, _result(ctx, HealthStatus.UNHEALTHY,
                             f"trader has not reported for {report.age_seconds:.1f}s (limit {limit:g}s)",
                             trader=report.summary(), trader_stale=True)
    return data, None


def caused_by_absent_trader(result: HealthResult) -> bool:
    """True when ``result`` failed only because the trader's report was missing or stale.

    Such a result says nothing about the checked service (exchange, Neo4j, agents ...), so it must not
    count toward that service's breaker: otherwise the breaker opens while the trader is away and keeps
    the check from running for ``recovery_timeout_seconds`` after the trader is back.
    """
    return bool(result.details.get("trader_stale"))


def _ladder(breaches: int) -> HealthStatus:
    """0 breaches healthy, 1 degraded, 2 or more unhealthy."""
    return [HealthStatus.HEALTHY, HealthStatus.DEGRADED][breaches] if breaches < 2 else HealthStatus.UNHEALTHY


def _not_configured(ctx: CheckContext, reason: str) -> HealthResult:
    return _result(ctx, HealthStatus.NOT_CONFIGURED, f"not configured: {reason}")


# ------------------------------------------------------------------ the checks


def exchange_connectivity(ctx: CheckContext) -> HealthResult:
    """All exchanges answer: healthy; some: degraded; none: unhealthy (probes and trader combined)."""
    probes = ctx.settings.health_checks.probes
    probed = {n: r.to_dict() for n, r in probe_exchanges(probes.exchanges, probes.timeout_seconds).items()}
    reported, stale = _trader_section(ctx, "exchanges")
    if stale:
        stale.details["probes"] = probed
        return stale
    if not probed and reported is None:
        return _not_configured(ctx, "no exchange to probe and none reported by the trader")
    if reported and "__error__" in reported:  # the manager itself failed to say anything
        return _result(ctx, HealthStatus.UNHEALTHY,
                       f"the trader's exchange manager failed: {reported['__error__'].get('error', '')}",
                       probes=probed, failing=[], service="exchange")
    names = sorted(set(probed) | set(reported or {}))
    if not names:
        return _not_configured(ctx, "the trader's exchange manager lists no exchanges")
    per: dict[str, Any] = {}
    for name in names:
        probe, trader = probed.get(name), (reported or {}).get(name)
        votes = [v for v in (probe["ok"] if probe else None, (trader or {}).get("connected")) if v is not None]
        per[name] = {"up": bool(votes) and all(votes), "probe": probe, "trader": trader}
    failing = [n for n in names if not per[n]["up"]]
    up = len(names) - len(failing)
    status = (HealthStatus.HEALTHY if not failing else
              HealthStatus.DEGRADED if up else HealthStatus.UNHEALTHY)
    message = f"{up}/{len(names)} exchanges answer" + (f"; down: {', '.join(failing)}" if failing else "")
    return _result(ctx, status, message, exchanges=per, failing=failing, service="exchange")


def neo4j_connectivity(ctx: CheckContext) -> HealthResult:
    """``RETURN 1`` works (Bolt probe and/or the trader's graph): healthy; fails: unhealthy."""
    probes = ctx.settings.health_checks.probes
    probe = probe_neo4j(probes.neo4j, probes.timeout_seconds) if probes.neo4j.uri else None
    reported, stale = _trader_section(ctx, "neo4j")
    if stale:
        return stale
    sources = {}
    if probe is not None and probe.ok is not None:
        sources["probe"] = {"ok": probe.ok, "latency_seconds": probe.latency_seconds, "error": probe.error}
    if reported is not None and reported.get("connected") is not None:
        sources["trader"] = {"ok": bool(reported["connected"]), "latency_seconds": reported.get("latency_seconds"),
                             "error": reported.get("error", "")}
    if not sources:
        reason = probe.error if probe is not None else "no Neo4j address to probe and no graph reported by the trader"
        return _not_configured(ctx, reason)
    failed = {k: v for k, v in sources.items() if not v["ok"]}
    if failed:
        why = "; ".join(f"{k}: {v['error'] or 'down'}" for k, v in failed.items())
        return _result(ctx, HealthStatus.UNHEALTHY, f"Neo4j RETURN 1 failed ({why})", sources=sources,
                       failing=["neo4j"], service="neo4j")
    return _result(ctx, HealthStatus.HEALTHY, "Neo4j answers RETURN 1", sources=sources, failing=[], service="neo4j")


def api_rate_limits(ctx: CheckContext) -> HealthResult:
    """Lowest remaining rate limit > healthy_above: healthy; > degraded_above: degraded; else unhealthy."""
    reported, stale = _trader_section(ctx, "exchanges")
    if stale:
        return stale
    source = "trader"
    remaining = {n: e.get("rate_limit_remaining") for n, e in (reported or {}).items()}
    remaining = {n: float(v) for n, v in remaining.items() if v is not None}
    if not remaining:  # fall back to what the trader recorded through update_exchange_status
        source = "metrics"
        snap = ctx.snapshot.get("exchanges") or {}
        remaining = {n: float(e["rate_limit_remaining"]) for n, e in snap.items()
                     if isinstance(e, dict) and e.get("rate_limit_remaining") is not None}
    if not remaining:
        return _not_configured(ctx, "no exchange reports a remaining rate limit")
    healthy_above, degraded_above = ctx.thresholds["healthy_above"], ctx.thresholds["degraded_above"]
    lowest_name = min(remaining, key=lambda n: remaining[n])
    lowest = remaining[lowest_name]
    status = (HealthStatus.HEALTHY if lowest > healthy_above else
              HealthStatus.DEGRADED if lowest > degraded_above else HealthStatus.UNHEALTHY)
    failing = sorted(n for n, v in remaining.items() if v <= healthy_above)
    return _result(ctx, status, f"lowest remaining rate limit {lowest:g} ({lowest_name})",
                   remaining=remaining, failing=failing, source=source, service="exchange")


def system_resources(ctx: CheckContext) -> HealthResult:
    """CPU, memory, disk of the worker host over their thresholds: none healthy, one degraded, 2+ unhealthy."""
    values = probe_system()
    over = [k for k in ("cpu_percent", "memory_percent", "disk_percent")
            if values.get(k) is not None and values[k] > ctx.thresholds[k]]
    shown = ", ".join(f"{k.removesuffix('_percent')} {values[k]:.0f}%" for k in ("cpu_percent", "memory_percent",
                                                                                  "disk_percent") if values.get(k) is not None)
    # Words, not config keys: "over threshold: cpu 97% > 90%" (the thresholds' names are in the docs).
    message = shown + ("; over threshold: " + ", ".join(
        f"{k.removesuffix('_percent')} {values[k]:.0f}% > {ctx.thresholds[k]:g}%" for k in over) if over else "")
    return _result(ctx, _ladder(len(over)), message, values=values, over=over, thresholds=dict(ctx.thresholds))


def disk_space(ctx: CheckContext) -> HealthResult:
    """Fullest disk of the worker host: ≤ degraded_percent healthy .. > critical_percent critical."""
    disks = probe_disks()
    if not disks:
        return _not_configured(ctx, "no disk could be measured on this host")
    mount = max(disks, key=lambda m: disks[m])
    used = disks[mount]
    t = ctx.thresholds
    status = (HealthStatus.CRITICAL if used > t["critical_percent"] else
              HealthStatus.UNHEALTHY if used > t["unhealthy_percent"] else
              HealthStatus.DEGRADED if used > t["degraded_percent"] else HealthStatus.HEALTHY)
    return _result(ctx, status, f"fullest disk {mount} at {used:.1f}%", disks=disks, mount=mount, percent=used)


def agent_health(ctx: CheckContext) -> HealthResult:
    """No failing agents: healthy; fewer than half failing: degraded; half or more: unhealthy."""
    agents, stale = _trader_section(ctx, "agents")
    if stale:
        return stale
    if agents is None:
        return _not_configured(ctx, "the trader reports no agents")
    failing = sorted(n for n, a in agents.items() if a.get("healthy") is False)
    total = len(agents)
    if not failing:
        status = HealthStatus.HEALTHY
    else:
        status = HealthStatus.DEGRADED if len(failing) * 2 < total else HealthStatus.UNHEALTHY
    message = f"{len(failing)}/{total} agents failing" + (f": {', '.join(failing)}" if failing else "")
    return _result(ctx, status, message, agents=agents, failing=[n for n in failing if n != "__error__"],
                   service="agent")


def portfolio_health(ctx: CheckContext) -> HealthResult:
    """Drawdown, leverage, open positions over their limits: none healthy, one degraded, 2+ unhealthy."""
    trading, stale = _trader_section(ctx, "trading")
    if stale:
        return stale
    trading = trading or {}
    snap = ctx.snapshot
    values = {
        "drawdown": _first(trading.get("drawdown"), (snap.get("trading") or {}).get("current_drawdown")),
        "leverage": _first(trading.get("leverage"), (snap.get("risk") or {}).get("leverage")),
        "positions": _first(trading.get("positions"), (snap.get("risk") or {}).get("position_count")),
    }
    if all(v is None for v in values.values()):
        return _not_configured(ctx, "the trader reports no drawdown, leverage or positions")
    limits = {"drawdown": ctx.thresholds["max_drawdown"], "leverage": ctx.thresholds["max_leverage"],
              "positions": ctx.thresholds["max_positions"]}
    over = [k for k, v in values.items() if v is not None and v > limits[k]]
    message = ", ".join(_portfolio_words(k, v, limits[k]) for k, v in values.items() if v is not None)
    if over:
        message += f"; over the limit: {', '.join(over)}"
    return _result(ctx, _ladder(len(over)), message, values=values, limits=limits, over=over, service="trading")


def database_locks(ctx: CheckContext) -> HealthResult:
    """Active transactions (trading engine + Neo4j graph) ≤ max_active_transactions: healthy; above: unhealthy."""
    trading, stale_t = _trader_section(ctx, "trading")
    graph, stale_g = _trader_section(ctx, "neo4j")
    if stale_t or stale_g:
        return stale_t or stale_g  # type: ignore[return-value]
    counts = {k: v for k, v in (("trading_engine", (trading or {}).get("active_transactions")),
                                ("neo4j_graph", (graph or {}).get("active_transactions"))) if v is not None}
    if not counts:
        return _not_configured(ctx, "no active transaction count reported by the trader")
    active = sum(counts.values())
    limit = ctx.thresholds["max_active_transactions"]
    status = HealthStatus.UNHEALTHY if active > limit else HealthStatus.HEALTHY
    return _result(ctx, status, f"{active} active transactions (limit {limit:g})", counts=counts, active=active)


def _portfolio_words(name: str, value: float, limit: float) -> str:
    """One portfolio value as a person reads it: "drawdown 13.3% (limit 10%)", not "drawdown 0.133378"."""
    if name == "drawdown":
        return f"drawdown {value * 100:.1f}% (limit {limit * 100:g}%)"
    if name == "leverage":
        return f"leverage {value:.2f}x (limit {limit:g}x)"
    return f"{value:g} open positions (limit {limit:g})"


def _first(*values: Any) -> float | None:
    for v in values:
        if v is not None:
            return float(v)
    return None


CHECKS: dict[str, Callable[[CheckContext], HealthResult]] = {
    "exchange_connectivity": exchange_connectivity,
    "neo4j_connectivity": neo4j_connectivity,
    "api_rate_limits": api_rate_limits,
    "system_resources": system_resources,
    "disk_space": disk_space,
    "agent_health": agent_health,
    "portfolio_health": portfolio_health,
    "database_locks": database_locks,
}


def run_check(settings: Settings, store: Store, keys: KeySpace, name: str) -> HealthResult:
    """Judge one check now (no breaker, no storage: see checker.HealthChecker)."""
    return CHECKS[name](CheckContext(settings, store, keys, name))
