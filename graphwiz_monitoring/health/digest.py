"""The scheduled digest (``alerts.digest``): a summary of the period sent to its channels.

Beat runs ``send_due_digest`` every 30 s (celery/beat.py); the digest due is the latest time the cron
expression (in its time zone) names at or before now on the Redis clock. A ``SET NX`` claim on that
time makes exactly one process send it, however many beats or workers run; a digest missed by more
than ``max_delay_seconds`` (nothing ran then) is skipped rather than sent late. It goes through the
alert pipeline as a one-shot alert of rule ``digest`` (retries, rate limits and dead letters
included) and lists: P&L of the day and of the week, drawdown, win rate, the alerts of the period
with their durations and who acknowledged them, health, and the recovery actions taken. It lives in
health/ because it reads both the alerting and the health areas.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity
from graphwiz_monitoring.alerting.records import get_active_alerts, get_alert_history
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.config.maintenance import DigestSettings
from graphwiz_monitoring.health.checker import HealthChecker
from graphwiz_monitoring.health.recovery import recovery_history
from graphwiz_monitoring.metrics.history import performance_history, read_trades
from graphwiz_monitoring.metrics.snapshot import build_snapshot
from graphwiz_monitoring.rulebook.maintenance import cron_runs, iso, zone
from graphwiz_monitoring.rulebook.rules import DIGEST_RULE, ONE_SHOT_RULES
from graphwiz_monitoring.state import KeySpace, Store

log = logging.getLogger(__name__)

CLAIM_TTL_SECONDS = 7 * 86_400
WEEK_HOURS = 168.0
MAX_LISTED_ALERTS = 20


def due_at(digest: DigestSettings, now: float) -> tuple[float, float]:
    """(the latest scheduled time at or before ``now``, the one before it): the period it sums up."""
    runs = cron_runs(digest.cron, datetime.fromtimestamp(now + 1e-3, zone(digest.timezone)))
    due = runs.get_prev(datetime).timestamp()
    return due, runs.get_prev(datetime).timestamp()


def send_due_digest(manager: AlertManager) -> Alert | None:
    """Send the digest due now if nobody has (see the module docstring); the alert sent, or None."""
    digest = manager.settings.alerts.digest
    if digest is None:
        return None
    store, keys = manager.store, manager.keys
    now = store.now()
    due, previous = due_at(digest, now)
    if now - due > digest.max_delay_seconds:
        return None
    if not store.r.set(keys.digest_sent(int(due)), "1", nx=True, ex=CLAIM_TTL_SECONDS):
        return None  # sent already, by this process or another
    text = render_digest(gather_digest(store, keys, manager.settings, since=previous, until=now), digest)
    title = f"Digest {iso(due, digest.timezone)}"
    log.info("digest due %s sent to %s", iso(due, digest.timezone), ", ".join(c.value for c in digest.channels))
    return manager.create_manual_alert(title, text, AlertSeverity.INFO, digest.channels,
                                       metadata={"digest": {"due": due, "since": previous}}, rule_name=DIGEST_RULE)


def gather_digest(store: Store, keys: KeySpace, settings: Settings, *, since: float, until: float) -> dict[str, Any]:
    """The facts of the period [since, until] (epoch seconds), JSON-serializable."""
    snapshot = build_snapshot(store, keys, settings)
    trading = snapshot.get("trading") or {}
    # The stream is read once for both windows (a monthly digest's period is longer than the week).
    trades = read_trades(store, keys, min(since, until - WEEK_HOURS * 3600), until)
    period = performance_history(store, keys, hours=(until - since) / 3600, now=until, trades=trades)
    week = performance_history(store, keys, hours=WEEK_HOURS, now=until, trades=trades)
    summary = HealthChecker(settings, store, keys).get_health_summary()
    recovery = [a for a in recovery_history(store, keys, limit=200) if float(a.get("timestamp") or 0) >= since]
    return {
        "since": since, "until": until,
        "pnl_day_usd": trading.get("pnl_daily_usd"), "pnl_total_usd": trading.get("pnl_usd"),
        "pnl_period_usd": period["pnl_usd"], "trades_period": period["trades"],
        "pnl_week_usd": week["pnl_usd"], "trades_week": week["trades"],
        "week_partial": week["trades"] >= settings.retention.trades_max_count,
        "current_drawdown": trading.get("current_drawdown"), "max_drawdown": trading.get("max_drawdown"),
        "win_rate_period": period["win_rate"], "win_rate_total": trading.get("win_rate"),
        "alerts": [_alert_line(a, until) for a in _period_alerts(store, keys, since, until)],
        "health": {"status": summary["status"],
                   "checks": {name: {"status": c.get("status"), "message": c.get("message", "")}
                              for name, c in summary["checks"].items()}},
        "trading_paused": bool((summary.get("trading") or {}).get("paused")),
        "recovery": [{"action": a.get("action"), "check": a.get("check"), "outcome": a.get("outcome")}
                     for a in recovery],
    }


def _period_alerts(store: Store, keys: KeySpace, since: float, until: float) -> list[Alert]:
    """Alerts created in the period plus those still active from before it, oldest first; no digests."""
    found = {a.alert_id: a for a in get_alert_history(store, keys, hours=(until - since) / 3600)}
    found.update({a.alert_id: a for a in get_active_alerts(store, keys)})
    return sorted((a for a in found.values() if a.rule_name not in ONE_SHOT_RULES),
                  key=lambda a: a.created_at)


def _alert_line(alert: Alert, until: float) -> dict[str, Any]:
    ended = alert.resolved_at
    return {"severity": alert.severity.value, "rule": alert.rule_name, "title": alert.title,
            "state": alert.state.value, "seconds": (ended or until) - alert.created_at,
            "acknowledged_by": alert.acknowledged_by}


def _money(value: Any) -> str:
    return "n/a" if value is None else f"{'-' if value < 0 else '+'}${abs(float(value)):,.2f}"


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.1f} %"


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{max(minutes, 1)} min"


def render_digest(facts: Mapping[str, Any], digest: DigestSettings) -> str:
    """Plain text (each channel escapes it for its own format)."""
    week_note = " (oldest trades no longer kept)" if facts["week_partial"] else ""
    lines = [
        f"Period {iso(facts['since'], digest.timezone)} to {iso(facts['until'], digest.timezone)}",
        f"P&L: period {_money(facts['pnl_period_usd'])} ({facts['trades_period']} trades), today (UTC) "
        f"{_money(facts['pnl_day_usd'])}, 7 days {_money(facts['pnl_week_usd'])}{week_note}, "
        f"total {_money(facts['pnl_total_usd'])}",
        f"Drawdown: current {_percent(facts['current_drawdown'])}, max {_percent(facts['max_drawdown'])}",
        f"Win rate: period {_percent(facts['win_rate_period'])}, all time {_percent(facts['win_rate_total'])}",
        "Trading: PAUSED" if facts["trading_paused"] else "Trading: running",
    ]
    alerts = facts["alerts"]
    lines.append(f"Alerts: {len(alerts)}" if alerts else "Alerts: none")
    for a in alerts[:MAX_LISTED_ALERTS]:
        status = "still firing" if a["state"] == "firing" else a["state"]
        ack = f", acknowledged by {a['acknowledged_by']}" if a["acknowledged_by"] else ", not acknowledged"
        lines.append(f"- {a['severity'].upper()} {a['title']}: {_duration(a['seconds'])}, {status}{ack}")
    if len(alerts) > MAX_LISTED_ALERTS:
        lines.append(f"- and {len(alerts) - MAX_LISTED_ALERTS} more (graphwiz-monitoring alerts list --history)")
    checks = facts["health"]["checks"]
    bad = [f"{name}: {c['message']}" for name, c in checks.items() if c["status"] not in (None, "healthy")]
    lines.append(f"Health: {facts['health']['status']}" + ("" if not bad else " (" + "; ".join(bad) + ")"))
    actions = _counted(f"{r['action']} {r['outcome']}" for r in facts["recovery"])
    lines.append("Recovery actions: " + (", ".join(actions) if actions else "none"))
    return "\n".join(lines)


def _counted(items: Iterable[str]) -> list[str]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return [f"{item} x{n}" if n > 1 else item for item, n in counts.items()]
