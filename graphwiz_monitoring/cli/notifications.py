"""Notification channels and delivery: dlq list|retry, test-alert."""

from __future__ import annotations

import sys
from datetime import UTC
from typing import TYPE_CHECKING

import click

from graphwiz_monitoring import tasks
from graphwiz_monitoring.cli import main
from graphwiz_monitoring.cli.common import _fail, _json, _load, _print_table
from graphwiz_monitoring.cli.options import CHANNEL, COUNT, SEVERITY
from graphwiz_monitoring.errors import GraphwizError

if TYPE_CHECKING:
    from graphwiz_monitoring.vocabulary import AlertSeverity


@main.group("dlq")
def dlq() -> None:
    """The dead-letter list: notifications that exhausted their retries, rejected payloads."""


@dlq.command("list")
@click.option("--limit", type=COUNT, default=50, show_default=True, help="newest entries to show")
@click.option("--kind", default=None, help="only this kind (e.g. notification)")
@click.option("--json", "as_json", is_flag=True, help="print the entries as JSON")
@click.pass_context
def dlq_list(ctx: click.Context, limit: int, kind: str | None, as_json: bool) -> None:
    """Show dead-lettered items, newest first."""
    from datetime import datetime

    from graphwiz_monitoring import context
    from graphwiz_monitoring.state.dead_letters import dead_letter_count, list_dead_letters

    settings = _load(ctx)
    store, keys = context.get_store(settings), context.get_keys(settings)
    entries = list_dead_letters(store, keys, limit=limit, kind=kind)
    total = dead_letter_count(store, keys)
    if as_json:
        click.echo(_json(entries))
        return
    rows = [{"id": e["id"], "time": datetime.fromtimestamp(e["time"], UTC).strftime("%Y-%m-%d %H:%M:%S"),
             "kind": e["kind"], "channel": (e.get("payload") or {}).get("channel", ""),
             "alert": (e.get("payload") or {}).get("alert_id", ""), "reason": str(e["reason"])[:80]} for e in entries]
    click.echo(f"dead letters: {total} in total")
    _print_table(rows, ["id", "time", "kind", "channel", "alert", "reason"])


@dlq.command("retry")
@click.argument("entry_id", required=False)
@click.option("--all", "retry_all", is_flag=True, help="re-queue every dead-lettered notification")
@click.pass_context
def dlq_retry(ctx: click.Context, entry_id: str | None, retry_all: bool) -> None:
    """Re-queue dead-lettered notifications (one ID, or --all) to the workers."""
    from graphwiz_monitoring import context
    from graphwiz_monitoring.alerting.delivery import DEAD_LETTER_KIND, requeue_dead_letter
    from graphwiz_monitoring.celery import sender_for
    from graphwiz_monitoring.state.dead_letters import list_dead_letters

    if bool(entry_id) == retry_all:
        raise click.UsageError("give one entry ID or --all")
    settings = _load(ctx)
    store, keys = context.get_store(settings), context.get_keys(settings)
    sender = sender_for(settings)

    def enqueue(alert_id: str, channel: str, kind: str) -> None:
        sender.send(tasks.NOTIFY_DELIVER, (alert_id, channel, kind))

    try:
        entries = list_dead_letters(store, keys, limit=settings.retention.dead_letters_max,
                                    kind=DEAD_LETTER_KIND if retry_all else None)
        if entry_id:
            entries = [e for e in entries if e.get("id") == entry_id]
            if not entries:
                raise click.ClickException(f"no dead letter with id {entry_id}")
        problems = [p for p in (requeue_dead_letter(store, keys, e, enqueue) for e in entries) if p]
    except GraphwizError as exc:
        _fail(exc)
    except Exception as exc:  # broker unreachable: kombu's own errors
        raise click.ClickException(f"could not queue: {type(exc).__name__}") from None
    for problem in problems:
        click.echo(f"skipped: {problem}", err=True)
    click.echo(f"re-queued {len(entries) - len(problems)} notification(s)")
    from graphwiz_monitoring.guards.breaker import BreakerState, CircuitBreaker

    channels = {c for e in entries if (c := (e.get("payload") or {}).get("channel")) is not None}
    for channel in sorted(channels):
        status = CircuitBreaker(store, keys, f"channel.{channel}", settings.circuit_breakers).status()
        if status.state is BreakerState.OPEN:  # the retries wait for the breaker's trial
            click.echo(f"note: circuit channel.{channel} is open; its retries wait for the half-open trial",
                       err=True)
    if entry_id and problems:
        sys.exit(1)


@main.command("test-alert")
@click.option("--channel", "channels", type=CHANNEL, multiple=True, required=True,
              help="channel or named destination (telegram:ops) to test (repeatable), or 'all' for every active one")
@click.option("--severity", type=SEVERITY, default="info", show_default=True)
@click.option("--message", default="This is a test notification. If you can read it, the channel works.")
@click.option("--queue", "via_queue", is_flag=True,
              help="deliver through the workers (with their retries) instead of from this process")
@click.pass_context
def test_alert(ctx: click.Context, channels: tuple[str, ...], severity: AlertSeverity, message: str,
               via_queue: bool) -> None:
    """Send a test notification. By default it is delivered from this process, once, and the outcome
    printed (rate limits are waited out, a failure is reported, not retried); --queue hands it to the
    workers instead."""
    from graphwiz_monitoring import context
    from graphwiz_monitoring.alerting.delivery import SENT, deliver_now
    from graphwiz_monitoring.alerting.models import Alert
    from graphwiz_monitoring.alerting.records import save_alert
    from graphwiz_monitoring.alerting.routing import channel_of

    settings = _load(ctx)
    notifications = settings.notifications
    try:
        # A channel type or a named destination of it (telegram:ops); "all": every active one of both.
        names = ([d for d in notifications.destination_names() if notifications.destination(d).active]
                 if "all" in channels else list(dict.fromkeys(channels)))
        destinations = {n: notifications.destination(n) for n in names}  # ValueError naming an unknown one
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--channel") from None
    # A channel this configuration cannot send through is named with what it lacks, not tried: the workers
    # would only log it as suppressed or undeliverable.
    unable = {n: why for n, d in destinations.items() if (why := d.why_inactive())}
    for name, why in unable.items():
        click.echo(f"{name}: cannot send: {why}", err=True)
    names = [n for n in names if n not in unable]
    if not names:
        sys.exit(1)
    store, keys = context.get_store(settings), context.get_keys(settings)
    alert = Alert(rule_name="test_alert", title="Test notification from graphwiz-monitoring", message=message,
                  severity=severity, channels=list(dict.fromkeys(channel_of(n) for n in names)),
                  labels={"source": "cli"}, metadata={"host": context.hostname()})
    failed = 0
    try:
        save_alert(store, keys, alert, ttl_seconds=settings.alerts.history_retention_hours * 3600)
        if via_queue:
            from graphwiz_monitoring.celery import sender_for

            sender = sender_for(settings)
            for name in names:
                sender.send(tasks.NOTIFY_DELIVER, (alert.alert_id, name, "firing"))
                click.echo(f"{name}: queued (alert {alert.alert_id})")
            sys.exit(1 if unable else 0)
        for name in names:
            result = deliver_now(store, keys, settings, alert.alert_id, name)
            failed += result.outcome != SENT
            click.echo(f"{name}: {result.outcome}" + (f" ({result.reason})" if result.reason else ""))
    except GraphwizError as exc:
        _fail(exc)
    except Exception as exc:  # broker unreachable: kombu's own errors
        raise click.ClickException(f"could not queue: {type(exc).__name__}") from None
    if failed or unable:
        sys.exit(1)
