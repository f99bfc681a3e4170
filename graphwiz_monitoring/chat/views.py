"""The bot's answers as Telegram HTML: status, alerts, health, profit, daily, trading changes, help.

Pure functions of plain data (the sections ``realtime.sources.collect_snapshot`` reads, the health
summary, the trading change): every value that comes from outside this module goes through
``escape``, and a section that could not be read says why instead of pretending to be empty.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from graphwiz_monitoring.chat.html import escape
from graphwiz_monitoring.health.trading_control import TradingChange

MAX_ALERTS_LISTED = 15
MESSAGE_MAX_CHARS = 4096
SHORT_ID_CHARS = 8

COMMANDS = (
    ("status", "P&L, drawdown, positions, trading paused?, active alerts"),
    ("alerts", "active alerts with their ids"),
    ("ack ID [comment]", "acknowledge an alert (stops its repeats and escalation)"),
    ("silence RULE 1h [reason]", "silence a rule for a while (30m, 2h, 1d)"),
    ("pause", "pause trading on every live trader"),
    ("resume", "resume trading (asks for confirmation)"),
    ("health", "health checks, circuit breakers, trader heartbeat"),
    ("profit", "P&L, win rate, trades, volume"),
    ("daily [n]", "P&L per UTC day, the last n days (default 7)"),
    ("help", "this list"),
)


def help_text() -> str:
    lines = ["<b>graphwiz-monitoring</b>", ""] + [f"/{escape(c)}: {escape(d)}" for c, d in COMMANDS]
    return "\n".join(lines + ["", "Buttons under an alert: Acknowledge, Silence 1 h, Pause trading."])


def when(epoch: Any) -> str:
    if not isinstance(epoch, (int, float)) or isinstance(epoch, bool):
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def money(value: Any, signed: bool = True) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "n/a"
    sign = "+" if signed and value > 0 else "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def percent(fraction: Any) -> str:
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool):
        return "n/a"
    return f"{fraction * 100:.1f}%"


def _unavailable(snapshot: dict[str, Any], section: str) -> str | None:
    reason = (snapshot.get("unavailable") or {}).get(section)
    return f"<i>{escape(section)} unavailable: {escape(str(reason))}</i>" if reason else None


def fit(text: str, limit: int = MESSAGE_MAX_CHARS) -> str:
    """Within ``limit`` characters, cut at a line boundary (never inside a tag: every line closes its own)."""
    if len(text) <= limit:
        return text
    lines, out, size = text.split("\n"), [], 0
    for line in lines:
        if size + len(line) + 1 > limit - 20:
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out + ["…"])


def alert_line(alert: dict[str, Any]) -> str:
    severity = str(alert.get("severity") or "").upper()
    line = (f"<code>{escape(str(alert.get('alert_id', ''))[:SHORT_ID_CHARS])}</code> <b>{escape(severity)}</b> "
            f"{escape(str(alert.get('title') or alert.get('rule_name') or ''))} "
            f"(rule {escape(str(alert.get('rule_name', '')))}, since {when(alert.get('created_at'))})")
    if alert.get("acknowledged_by"):
        line += f" · acknowledged by {escape(str(alert['acknowledged_by']))}"
    return line


def alerts_text(snapshot: dict[str, Any]) -> str:
    missing = _unavailable(snapshot, "alerts")
    if missing:
        return missing
    alerts = snapshot.get("alerts") or []
    if not alerts:
        return "No active alerts."
    lines = [f"<b>{len(alerts)} active alert(s)</b>", ""] + [alert_line(a) for a in alerts[:MAX_ALERTS_LISTED]]
    if len(alerts) > MAX_ALERTS_LISTED:
        lines.append(f"… and {len(alerts) - MAX_ALERTS_LISTED} more")
    return fit("\n".join(lines + ["", "/ack ID acknowledges one (the first characters of its id are enough)."]))


def _trading_line(trading: Any) -> str:
    if not isinstance(trading, dict):
        return "Trading: unknown"
    if trading.get("paused"):
        return (f"Trading: <b>PAUSED</b> since {when(trading.get('since'))} by {escape(str(trading.get('by') or '?'))}"
                + (f": {escape(str(trading['reason']))}" if trading.get("reason") else ""))
    return "Trading: running"


def status_text(snapshot: dict[str, Any]) -> str:
    lines = ["<b>Status</b>", ""]
    metrics = snapshot.get("metrics")
    if isinstance(metrics, dict):
        t, p, r = metrics.get("trading") or {}, metrics.get("portfolio") or {}, metrics.get("risk") or {}
        lines += [f"P&amp;L: {money(t.get('pnl_usd'))} total, {money(t.get('pnl_daily_usd'))} today",
                  f"Drawdown: {percent(t.get('current_drawdown'))} now, {percent(t.get('max_drawdown'))} max",
                  f"Portfolio: {money(p.get('value_usd'), signed=False)}, {r.get('position_count') or 0} position(s), "
                  f"exposure {money(r.get('exposure_usd'), signed=False)}"]
    else:
        lines.append(_unavailable(snapshot, "metrics") or "Metrics: none yet")
    lines.append(_unavailable(snapshot, "trading") or _trading_line(snapshot.get("trading")))
    traders = (metrics or {}).get("traders") if isinstance(metrics, dict) else None
    if isinstance(traders, dict) and traders:
        stale = [n for n, tr in traders.items() if isinstance(tr, dict) and tr.get("stale")]
        lines.append(f"Traders: {len(traders)}" + (f", stale: {escape(', '.join(stale))}" if stale else ""))
    lines.append("")
    missing = _unavailable(snapshot, "alerts")
    alerts = snapshot.get("alerts") or []
    if missing:
        lines.append(missing)
    elif not alerts:
        lines.append("Active alerts: none")
    else:
        lines.append(f"<b>Active alerts: {len(alerts)}</b>")
        lines += [alert_line(a) for a in alerts[:5]]
        if len(alerts) > 5:
            lines.append("… /alerts lists them all")
    return fit("\n".join(lines))


def health_text(snapshot: dict[str, Any]) -> str:
    missing = _unavailable(snapshot, "health")
    if missing:
        return missing
    health = snapshot.get("health") or {}
    lines = [f"<b>Health: {escape(str(health.get('status', 'unknown')))}</b>", ""]
    for name, check in sorted((health.get("checks") or {}).items()):
        breaker = (check.get("breaker") or {}).get("state", "closed")
        lines.append(f"{escape(name)}: <b>{escape(str(check.get('status') or 'not run'))}</b>"
                     + (f" (breaker {escape(str(breaker))})" if breaker != "closed" else "")
                     + (f": {escape(str(check.get('message'))[:120])}" if check.get("message") else ""))
    open_breakers = [n for n, b in (health.get("breakers") or {}).items()
                     if isinstance(b, dict) and b.get("state") not in (None, "closed")]
    if open_breakers:
        lines.append(f"Open breakers: {escape(', '.join(sorted(open_breakers)))}")
    trader = health.get("trader")
    lines.append("Trader: " + ("never reported" if not trader else
                               f"{escape(str(trader.get('host')))} pid {escape(str(trader.get('pid')))}, seen "
                               f"{float(trader.get('age_seconds') or 0):.0f} s ago"
                               + (" (<b>STALE</b>)" if trader.get("stale") else "")))
    lines.append(_trading_line(health.get("trading")))
    return fit("\n".join(lines))


def profit_text(snapshot: dict[str, Any]) -> str:
    missing = _unavailable(snapshot, "metrics")
    if missing:
        return missing
    t = (snapshot.get("metrics") or {}).get("trading") or {}
    sharpe = t.get("sharpe_ratio")
    return "\n".join([
        "<b>Profit</b>", "",
        f"P&amp;L: {money(t.get('pnl_usd'))} total, {money(t.get('pnl_daily_usd'))} today",
        f"Trades: {t.get('total_trades', 0)} ({t.get('successful_trades', 0)} succeeded, "
        f"{t.get('failed_trades', 0)} failed), win rate {percent(t.get('win_rate'))}",
        f"Volume: {money(t.get('volume_usd'), signed=False)}",
        f"Equity: {money(t.get('equity_usd'), signed=False)}, max drawdown {percent(t.get('max_drawdown'))}",
        f"Sharpe ratio: {sharpe:.2f}" if isinstance(sharpe, (int, float)) else "Sharpe ratio: n/a",
    ])


def daily_text(days: list[dict[str, Any]]) -> str:
    lines = [f"<b>Daily P&amp;L, last {len(days)} day(s) (UTC)</b>", ""]
    lines += [f"<code>{escape(d['day'])}</code> {money(d['pnl_usd'])} · {d['trades']} trade(s)" for d in days]
    total = sum(d["pnl_usd"] for d in days)
    return fit("\n".join(lines + ["", f"Total: {money(total)}"]))


def trading_change_text(change: TradingChange, actor: str) -> str:
    """The flag and every live trader's outcome (the CLI prints the same, health/trading_control.py)."""
    verb = "paused" if change.paused else "resumed"
    lines = [f"<b>Trading {verb}</b> by {escape(actor)}"]
    fan = change.fan
    if fan is None or not fan.expected:
        lines.append(f"No trader is live (none polled within {change.window_seconds:g} s): "
                     "the flag applies when a trader next starts or checks it.")
        return "\n".join(lines)
    for identity, outcome in fan.outcomes().items():
        seen = fan.expected.get(identity)
        where = f" ({escape(seen.host)} pid {escape(seen.pid)})" if seen and seen.pid else ""
        mark = "✅" if outcome["outcome"] == "succeeded" else "❌"
        lines.append(f"{mark} {escape(identity)}{where}: <b>{escape(outcome['outcome'])}</b>"
                     + (f": {escape(outcome['reason'])}" if outcome.get("reason") else ""))
    missing = change.unconfirmed()
    lines.append(f"⚠️ {len(missing)} of {len(fan.expected)} live trader(s) did not confirm: {escape(', '.join(missing))}"
                 if missing else f"All {len(fan.expected)} live trader(s) confirmed.")
    return fit("\n".join(lines))
