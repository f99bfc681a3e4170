"""Alert rules and lifecycle: silence add|list|remove, alerts list|ack|unack."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from graphwiz_monitoring.cli import main
from graphwiz_monitoring.cli.common import _json, _load, _print_table, _when
from graphwiz_monitoring.cli.options import DURATION, POSITIVE, SEVERITY, TIME

if TYPE_CHECKING:
    from graphwiz_monitoring.vocabulary import AlertSeverity

if TYPE_CHECKING:
    from graphwiz_monitoring.alerting.models import Alert


def _matchers(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected label=value, got {item!r}", param_hint="'--matcher'")
        out[name.strip()] = value.strip()
    return out


@main.group("silence")
def silence() -> None:
    """Mute alerts by rule, label or severity for a while (shared by every worker)."""


@silence.command("add")
@click.option("--matcher", "-m", "matchers", multiple=True, required=True,
              help="label=value (repeatable; shell patterns allowed; labels include rule and severity)")
@click.option("--duration", "--for", "duration", type=DURATION, default=None, help="how long, e.g. 30m, 2h, 1d (default 1h)")
@click.option("--until", "until", type=TIME, default=None, help="end time, ISO-8601 (instead of --duration)")
@click.option("--starts", type=TIME, default=None, help="start time, ISO-8601 (default now)")
@click.option("--author", default=lambda: os.environ.get("USER", "cli"), show_default="$USER")
@click.option("--reason", default="", help="why (shown in silence list)")
@click.pass_context
def silence_add(ctx: click.Context, matchers: tuple[str, ...], duration: float | None, until: float | None,
                starts: float | None, author: str, reason: str) -> None:
    """Add a silence; prints its id."""
    from graphwiz_monitoring import context
    from graphwiz_monitoring.alerting.silences import add_silence

    if duration is not None and until is not None:
        raise click.UsageError("give --duration or --until, not both")
    wanted = _matchers(matchers)
    settings = _load(ctx)
    # A duration runs from --starts, else from now on the Redis clock (this host's clock may be off).
    end, length = (until, None) if until is not None else (None, duration or 3600.0)
    created = add_silence(context.get_store(settings), context.get_keys(settings), wanted,
                          ends_at=end, duration_seconds=length, starts_at=starts, author=author, reason=reason)
    click.echo(created.id)


@silence.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def silence_list(ctx: click.Context, as_json: bool) -> None:
    """Current and upcoming silences (runtime and from the config file)."""
    from graphwiz_monitoring import context
    from graphwiz_monitoring.alerting.silences import list_silences

    settings = _load(ctx)
    found = list_silences(context.get_store(settings), context.get_keys(settings), settings)
    if as_json:
        click.echo(_json([s.to_dict() for s in found]))
        return
    _print_table([{"id": s.id, "matchers": ",".join(f"{k}={v}" for k, v in s.matchers.items()),
                   "starts": _when(s.starts_at), "ends": _when(s.ends_at), "author": s.author,
                   "reason": s.reason[:60], "source": s.source} for s in found],
                 ["id", "matchers", "starts", "ends", "author", "reason", "source"])


@silence.command("remove")
@click.argument("silence_id")
@click.pass_context
def silence_remove(ctx: click.Context, silence_id: str) -> None:
    """End a runtime silence now."""
    from graphwiz_monitoring import context
    from graphwiz_monitoring.alerting.silences import remove_silence

    settings = _load(ctx)
    removed = remove_silence(context.get_store(settings), context.get_keys(settings), silence_id)
    if not removed:
        raise click.ClickException(f"no silence with id {silence_id}")
    click.echo(f"removed {silence_id}")


@main.group("alerts")
def alerts_group() -> None:
    """Inspect alerts (active ones, history)."""


def _state(alert: Alert) -> str:
    from graphwiz_monitoring.alerting.maintenance import in_maintenance

    window = in_maintenance(alert)
    return f"{alert.state.value}, in maintenance ({window})" if window else alert.state.value


@alerts_group.command("list")
@click.option("--history", is_flag=True, help="alerts created in the last --hours, not only active ones")
@click.option("--hours", type=POSITIVE, default=24.0, show_default=True, help="history window")
@click.option("--severity", type=SEVERITY, default=None,
              help="only this severity (info, warning, critical, emergency)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def alerts_list(ctx: click.Context, history: bool, hours: float, severity: AlertSeverity | None,
                as_json: bool) -> None:
    """Active alerts (newest first), or with --history every alert of the window."""
    from graphwiz_monitoring import context
    from graphwiz_monitoring.alerting.manager import get_active_alerts, get_alert_history

    settings = _load(ctx)
    store, keys = context.get_store(settings), context.get_keys(settings)
    found = (get_alert_history(store, keys, hours=hours, severity=severity) if history
             else [a for a in get_active_alerts(store, keys) if severity is None or a.severity is severity])
    if as_json:
        click.echo(_json([a.to_dict() for a in found]))
        return
    _print_table([{"id": a.alert_id[:12], "severity": a.severity.value.upper(), "rule": a.rule_name,
                   "labels": ",".join(f"{k}={v}" for k, v in a.labels.items()), "state": _state(a),
                   "ack": _ack_text(a), "created": _when(a.created_at), "title": a.title[:60]} for a in found],
                 ["id", "severity", "rule", "labels", "state", "ack", "created", "title"])


def _ack_text(alert: Any) -> str:
    """``acknowledged by X [until T]`` for an alert with an ack in force, else ``-``."""
    if not alert.acknowledged_by:
        return "-"
    until = f" until {_when(alert.ack_expires_at)}" if alert.ack_expires_at else ""
    return f"acknowledged by {alert.acknowledged_by[:30]}{until}"


def _active_id(manager: Any, given: str) -> str:
    """The full id of the active alert ``given`` names: the id itself, or a unique prefix of one (``alerts
    list`` shows the first 12 characters)."""
    from graphwiz_monitoring.alerting.records import active_ids_matching

    found = active_ids_matching(manager.store, manager.keys, given)
    if len(found) > 1:
        raise click.BadParameter(f"{given!r} is the start of {len(found)} active alert ids; give more of it",
                                 param_hint="ALERT_ID")
    return found[0] if found else given  # unknown: the manager names it


def _manager(ctx: click.Context) -> Any:
    from graphwiz_monitoring import context
    from graphwiz_monitoring.alerting.manager import AlertManager

    settings = _load(ctx)
    return AlertManager(context.get_store(settings), context.get_keys(settings), settings)


@alerts_group.command("ack")
@click.argument("alert_id")
@click.option("--for", "for_", type=DURATION, default=None, help="the ack ends after this long, e.g. 30m, 2h (default: when "
              "the alert resolves or its severity rises)")
@click.option("--comment", default=None, help="why, or what is being done (shown with the alert)")
@click.option("--by", default=lambda: os.environ.get("USER", "cli"), show_default="$USER")
@click.pass_context
def alerts_ack(ctx: click.Context, alert_id: str, for_: float | None, comment: str | None, by: str) -> None:
    """Acknowledge an active alert: no more repeats or escalation (every process) while the ack holds."""
    manager = _manager(ctx)
    try:
        alert = manager.acknowledge_alert(_active_id(manager, alert_id), by, comment=comment, for_seconds=for_)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{alert.alert_id} {_ack_text(alert)}")


@alerts_group.command("unack")
@click.argument("alert_id")
@click.option("--by", default=lambda: os.environ.get("USER", "cli"), show_default="$USER")
@click.pass_context
def alerts_unack(ctx: click.Context, alert_id: str, by: str) -> None:
    """Take back an alert's ack: its repeats and escalation go on at once."""
    manager = _manager(ctx)
    try:
        alert = manager.unacknowledge_alert(_active_id(manager, alert_id), by)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{alert.alert_id} not acknowledged")
