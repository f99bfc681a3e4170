"""Read-only reports: the effective configuration, the metrics snapshot, the status summary."""

from __future__ import annotations

import sys

import click
import yaml

from graphwiz_monitoring.cli import main
from graphwiz_monitoring.cli.common import _json, _load
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import ConfigError


@main.command("check-config")
@click.option("--config", "local_config", type=click.Path(dir_okay=False), default=None, help="file to check")
@click.pass_context
def check_config(ctx: click.Context, local_config: str | None) -> None:
    """Print the effective configuration (secrets masked), or every error; non-zero exit on error."""
    from graphwiz_monitoring.config import load_settings

    path = local_config or ctx.find_root().params.get("config")
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(yaml.safe_dump(settings.masked(), sort_keys=False))
    from graphwiz_monitoring.cli.routes_view import render_routes

    click.echo(render_routes(settings))
    _print_windows(settings)
    click.echo("configuration OK", err=True)


def _print_windows(settings: Settings) -> None:
    """The maintenance windows open now and next (this host's clock: a preview, not a decision)."""
    import time

    from graphwiz_monitoring.rulebook.maintenance import iso, window_from_settings

    for name, spec in settings.alerts.maintenance.items():
        window = window_from_settings(name, spec)
        scope = ", ".join(f"{k}={v}" for k, v in window.matchers.items()) or "all alerts"
        spans = "; ".join(f"{iso(start, window.timezone)} to {iso(end, window.timezone)}"
                          for start, end in window.upcoming(time.time()))
        click.echo(f"maintenance window {name} ({scope}): {spans or 'ended'}", err=True)


@main.command("metrics")
@click.pass_context
def metrics_snapshot(ctx: click.Context) -> None:
    """Print the current metrics snapshot (JSON) as rules and health checks see it."""
    from graphwiz_monitoring.context import get_keys, get_store
    from graphwiz_monitoring.metrics.snapshot import build_snapshot

    settings = _load(ctx)
    click.echo(_json(build_snapshot(get_store(settings), get_keys(settings), settings)))


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Terminal summary: trading (P&L, drawdown, positions, paused), alerts, health, breakers, queues, delivery."""
    import shutil

    from graphwiz_monitoring import context
    from graphwiz_monitoring.cli.status_view import DEFAULT_WIDTH, MAX_WIDTH, gather_status, render_status

    settings = _load(ctx)
    store = context.get_store(settings)
    if not store.is_available():
        raise click.ClickException(f"Redis at {store.safe_url} does not answer")
    data = gather_status(store, context.get_keys(settings), settings)
    if as_json:
        click.echo(_json(data))
        return
    # A terminal gets its own width (up to MAX_WIDTH) and colours; a pipe or file 80 plain columns.
    tty = sys.stdout.isatty()
    width = min(shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns, MAX_WIDTH) if tty else DEFAULT_WIDTH
    click.echo(render_status(data, width=width, color=tty), nl=False)
