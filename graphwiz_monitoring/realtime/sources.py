"""What the live views read: one snapshot of every area's state, each section degrading on its own.

The realtime server (snapshot on connect) and ``graphwiz-monitoring status`` both call
``collect_snapshot``. Each section comes from its owning area's library function: when Redis fails
while reading it, or the area raises, the section is ``None`` and ``unavailable[section]`` says why,
so one failing area never blanks the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from graphwiz_monitoring.alerting.manager import AlertManager, get_active_alerts
from graphwiz_monitoring.alerting.rules import RuleRegistry
from graphwiz_monitoring.alerting.silences import silence_alert
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.guards.breaker import list_breakers
from graphwiz_monitoring.health.checker import HealthChecker
from graphwiz_monitoring.health.pause import trading_pause_status
from graphwiz_monitoring.health.recovery import recovery_history
from graphwiz_monitoring.metrics.history import performance_history, recent_trades
from graphwiz_monitoring.metrics.snapshot import build_snapshot
from graphwiz_monitoring.state import KeySpace, Store

log = logging.getLogger(__name__)

SECTIONS = ("metrics", "alerts", "health", "breakers", "trading", "recovery", "trades")
RECENT_RECOVERY_LIMIT = 20
RECENT_TRADES_LIMIT = 20


def _plain(value: Any) -> Any:
    """Dataclasses/models with to_dict() become dicts; containers are converted recursively."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------ sections (one per owning area)

def read_metrics(store: Store, keys: KeySpace, settings: Settings) -> dict[str, Any]:
    return _plain(build_snapshot(store, keys, settings))


def read_alerts(store: Store, keys: KeySpace, settings: Settings) -> list[dict[str, Any]]:
    """Firing alerts, newest first."""
    alerts = [_plain(a) for a in get_active_alerts(store, keys)]
    return sorted(alerts, key=lambda a: a.get("created_at") or 0, reverse=True)


def read_health(store: Store, keys: KeySpace, settings: Settings) -> dict[str, Any]:
    """The health area's summary: ``{"status", "checks": {name: result + breaker}, "trader", ...}``."""
    return _plain(HealthChecker(settings, store, keys).get_health_summary())


def read_breakers(store: Store, keys: KeySpace, settings: Settings) -> dict[str, Any]:
    """Every breaker that has been used (checks and channels), by name."""
    return {b.name: _plain(b) for b in list_breakers(store, keys, settings.circuit_breakers)}


def read_trading(store: Store, keys: KeySpace, settings: Settings) -> dict[str, Any]:
    """``{"paused": bool, "reason", "by", "since"}``."""
    return _plain(trading_pause_status(store, keys))


def read_recovery(store: Store, keys: KeySpace, settings: Settings) -> list[dict[str, Any]]:
    """Recent recovery attempts, newest first."""
    return [_plain(a) for a in recovery_history(store, keys, limit=RECENT_RECOVERY_LIMIT)]


def read_trades(store: Store, keys: KeySpace, settings: Settings) -> list[dict[str, Any]]:
    """The last ``RECENT_TRADES_LIMIT`` trades ingested, newest first."""
    return recent_trades(store, keys, RECENT_TRADES_LIMIT)


def alert_values(rules: RuleRegistry, alerts: list[dict[str, Any]] | None,
                 metrics: dict[str, Any] | None) -> dict[str, float]:
    """``{alert_id: the value its rule is about now}`` for the active alerts whose rule is an expression
    (built-in or YAML rule; a rule module's Python callable has no value to show), from ``metrics``."""
    if not alerts or not metrics:
        return {}
    values: dict[str, float] = {}
    for alert in alerts:
        rule = rules.get(str(alert.get("rule_name")))
        if rule is None or rule.expression is None:
            continue
        value = rule.expression.observe(metrics, alert.get("labels") or {})
        if value is not None:
            values[str(alert.get("alert_id"))] = value
    return values


def read_equity_history(store: Store, keys: KeySpace, settings: Settings, hours: float) -> list[list[float]]:
    """``[[time, cumulative P&L USD], ...]`` over the last ``hours``, from the metrics area's trade history.

    The history's series is cumulative within the window, so it is shifted to end at today's total P&L.
    """
    history = performance_history(store, keys, hours)
    total = ((read_metrics(store, keys, settings).get("trading") or {}).get("pnl_usd"))
    if not isinstance(total, (int, float)):
        return []
    base = float(total) - float(history.get("pnl_usd") or 0.0)
    step = float(history.get("bucket_seconds") or 0.0)
    return [[float(p["timestamp"]) + step, base + float(p["cumulative_pnl_usd"])]
            for p in history.get("series") or [] if "cumulative_pnl_usd" in p]


READERS: dict[str, Callable[[Store, KeySpace, Settings], Any]] = {
    "metrics": read_metrics,
    "alerts": read_alerts,
    "health": read_health,
    "breakers": read_breakers,
    "trading": read_trading,
    "recovery": read_recovery,
    "trades": read_trades,
}


def collect_snapshot(store: Store, keys: KeySpace, settings: Settings,
                     sections: Iterable[str] = SECTIONS) -> dict[str, Any]:
    """``{section: data or None, ..., "unavailable": {section: reason}}``; never raises."""
    snapshot: dict[str, Any] = {"unavailable": {}}
    for name in sections:
        try:
            snapshot[name] = READERS[name](store, keys, settings)
        except StateError as exc:
            snapshot[name], snapshot["unavailable"][name] = None, f"Redis unavailable: {exc}"
        except Exception as exc:  # another area's bug must not take the live view down
            log.exception("realtime: reading the %s section failed", name)
            snapshot[name], snapshot["unavailable"][name] = None, f"{type(exc).__name__}: {exc}"
    return snapshot


def create_silence(store: Store, keys: KeySpace, settings: Settings, *, alert_id: str,
                   duration_seconds: float, author: str, reason: str) -> dict[str, Any]:
    """Silence what ``alert_id`` matches for ``duration_seconds``, through the alerting area's API."""
    return _plain(silence_alert(store, keys, settings, alert_id=alert_id, duration_seconds=duration_seconds,
                                author=author, reason=reason))


def acknowledge(store: Store, keys: KeySpace, settings: Settings, *, alert_id: str, by: str,
                comment: str | None = None) -> dict[str, Any]:
    """Acknowledge one active alert through the alerting area's API (AlertNotFoundError when it is not active)."""
    return _plain(_answering_manager(store, keys, settings).acknowledge_alert(alert_id, by, comment=comment))


def unacknowledge(store: Store, keys: KeySpace, settings: Settings, *, alert_id: str, by: str) -> dict[str, Any]:
    """Take back the ack of one active alert (AlertNotFoundError when it is not active)."""
    return _plain(_answering_manager(store, keys, settings).unacknowledge_alert(alert_id, by))


def _answering_manager(store: Store, keys: KeySpace, settings: Settings) -> AlertManager:
    return AlertManager(store, keys, settings, registry=RuleRegistry())  # answering an alert evaluates no rule
