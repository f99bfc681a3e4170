"""Health and recovery: health summary, breaker list|reset, trading pause|resume|status."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from graphwiz_monitoring.cli import main
from graphwiz_monitoring.cli.common import _json, _load, _print_table, _when
from graphwiz_monitoring.cli.options import NON_NEGATIVE
from graphwiz_monitoring.config import Settings


def _health_env(ctx: click.Context) -> tuple[Settings, Any, Any]:
    from graphwiz_monitoring import context

    settings = _load(ctx)
    return settings, context.get_store(settings), context.get_keys(settings)


@main.command("health")
@click.option("--run", "run_now", is_flag=True, help="run every check now (from this host) before printing")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def health(ctx: click.Context, run_now: bool, as_json: bool) -> None:
    """Health summary: each check's latest result, breakers, trader heartbeat, trading-paused flag."""
    import asyncio

    from graphwiz_monitoring.health.checker import HealthChecker

    settings, store, keys = _health_env(ctx)
    if run_now:  # the checks may alert and hand recovery over: through this process's own sender
        from graphwiz_monitoring.celery import sender_for

        checker = HealthChecker(settings, store, keys, sender=sender_for(settings))
    else:
        checker = HealthChecker(settings, store, keys)
    if run_now:
        asyncio.run(checker.run_all_health_checks())
    summary = checker.get_health_summary()
    if as_json:
        click.echo(_json(summary))
        return
    trader = summary["trader"]
    click.echo(f"overall: {summary['status']}   trading paused: {summary['trading']['paused']}   trader: "
               + (f"{trader['host']} pid {trader['pid']}, seen {trader['age_seconds']:.0f}s ago"
                  + (" (STALE)" if trader["stale"] else "") if trader else "never reported"))
    _print_table([{"check": n, "status": c["status"] or "-", "breaker": c["breaker"]["state"],
                   "at": _when(c.get("timestamp")), "message": (c["message"] or "")[:70]}
                  for n, c in summary["checks"].items()], ["check", "status", "breaker", "at", "message"])


@main.group("breaker")
def breaker_group() -> None:
    """Circuit breakers of health checks and notification channels."""


@breaker_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def breaker_list(ctx: click.Context, as_json: bool) -> None:
    """Every breaker that has been used, with its state."""
    from graphwiz_monitoring.guards.breaker import list_breakers

    settings, store, keys = _health_env(ctx)
    found = list_breakers(store, keys, settings.circuit_breakers)
    if as_json:
        click.echo(_json([b.to_dict() for b in found]))
        return
    _print_table([{"name": b.name, "state": b.state.value, "failures": b.failures, "retry_at": _when(b.retry_at),
                   "last_error": b.last_error[:60]} for b in found], ["name", "state", "failures", "retry_at",
                                                                     "last_error"])


def _known_breakers(settings: Settings, store: Any, keys: Any) -> list[str]:
    """Names a breaker can have: each configured health check, each channel but log, and any stored one.

    Health checks use their check's name, notification channels ``channel.<name>`` (the log channel is
    the fallback and has none); breakers already in Redis stay resettable whatever the config says now.
    """
    from graphwiz_monitoring.alerting.delivery import BREAKER_PREFIX
    from graphwiz_monitoring.alerting.models import AlertChannel
    from graphwiz_monitoring.guards.breaker import list_breakers

    names = set(settings.health_checks.checks)
    names.update(BREAKER_PREFIX + c.value for c in AlertChannel if c is not AlertChannel.LOG)
    names.update(b.name for b in list_breakers(store, keys, settings.circuit_breakers))
    return sorted(names)


@breaker_group.command("reset")
@click.argument("name")
@click.pass_context
def breaker_reset(ctx: click.Context, name: str) -> None:
    """Close breaker NAME by hand (its next call runs normally)."""
    from graphwiz_monitoring.guards.breaker import reset_circuit_breaker

    settings, store, keys = _health_env(ctx)
    known = _known_breakers(settings, store, keys)
    if name not in known:
        # Resetting writes the breaker: an unchecked name would create one (and an exported series) per typo.
        raise click.ClickException(f"unknown breaker {name[:80]!r}; known: {', '.join(known)}")
    status = reset_circuit_breaker(store, keys, name, settings.circuit_breakers)
    click.echo(f"{name}: {status.state.value}")


@main.group("trading")
def trading_group() -> None:
    """The persistent trading-paused flag (survives restarts; only resume clears it), told to every live trader."""


def _trading(ctx: click.Context, paused: bool, wait: float, reason: str = "") -> None:
    """Set or clear the flag and ask every live trader to follow (health/trading_control.py, shared with the
    Telegram bot); print each one's outcome; exit 1 when a live one did not confirm."""
    from graphwiz_monitoring.health.trading_control import change_trading

    settings, store, keys = _health_env(ctx)
    change = change_trading(settings, store, keys, paused=paused, by=f"cli:{os.environ.get('USER', '?')}",
                            reason=reason, wait=wait)
    click.echo("trading paused" if paused else "trading resumed")
    fan = change.fan
    if fan is None:
        click.echo("traders: not asked (--wait 0); each applies the flag when it next starts or checks it")
        return
    if not fan.expected:
        click.echo(f"traders: none live (none polled the control stream within {change.window_seconds:g}s); "
                   "the flag applies when a trader next starts or checks it")
        return
    for identity, outcome in fan.outcomes().items():
        seen = fan.expected.get(identity)
        where = f" ({seen.host} pid {seen.pid})" if seen and seen.pid else ""
        click.echo(f"trader {identity}{where}: {outcome['outcome']}: {outcome['reason']}")
    if not change.confirmed:
        missing = change.unconfirmed()
        click.echo(f"{len(missing)} of {len(fan.expected)} live trader(s) did not confirm: {', '.join(missing)}",
                   err=True)
        sys.exit(1)


@trading_group.command("pause")
@click.option("--reason", default="paused by hand", show_default=True)
@click.option("--wait", type=NON_NEGATIVE, default=5.0, show_default=True,
              help="seconds to wait for every live trader to pause its engine (exit 1 if one does not)")
@click.pass_context
def trading_pause(ctx: click.Context, reason: str, wait: float) -> None:
    """Set the flag and ask every live trader to pause its engine."""
    _trading(ctx, True, wait, reason)


@trading_group.command("resume")
@click.option("--wait", type=NON_NEGATIVE, default=5.0, show_default=True,
              help="seconds to wait for every live trader to resume its engine (exit 1 if one does not)")
@click.pass_context
def trading_resume(ctx: click.Context, wait: float) -> None:
    """Clear the flag and ask every live trader to resume its engine."""
    _trading(ctx, False, wait)


@trading_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def trading_status(ctx: click.Context, as_json: bool) -> None:
    """Is trading paused, since when, by whom, why; which traders are live."""
    from graphwiz_monitoring.health.commands import live_traders, live_window_seconds
    from graphwiz_monitoring.health.pause import trading_pause_status

    settings, store, keys = _health_env(ctx)
    status = trading_pause_status(store, keys)
    traders = live_traders(store, keys, live_window_seconds(settings))
    if as_json:
        click.echo(_json({**status, "traders": [t.to_dict() for t in traders.values()]}))
        return
    if status["paused"]:
        click.echo(f"PAUSED since {_when(status['since'])} by {status['by']}: {status['reason']}")
    else:
        click.echo("running" + (f" (resumed {_when(status['since'])} by {status['by']})" if status["since"] else ""))
    click.echo("live traders: " + (", ".join(f"{t.identity} ({t.host} pid {t.pid})" + (" CONFLICT" if t.conflict else "")
                                             for t in traders.values()) or "none"))
