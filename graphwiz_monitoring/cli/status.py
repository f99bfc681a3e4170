"""Read-only reports: the effective configuration, the metrics snapshot, the status summary."""

from __future__ import annotations

import sys

import click
import yaml

from graphwiz_monitoring.cli import main
from graphwiz_monitoring.cli.common import _json, _load
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
    click.echo("configuration OK", err=True)


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
    """Terminal summary: trading, health, breakers, active alerts, queues, dead letters, notification outbox."""
    from graphwiz_monitoring import context
    from graphwiz_monitoring.cli.status_view import gather_status, render_status

    settings = _load(ctx)
    store = context.get_store(settings)
    if not store.is_available():
        raise click.ClickException(f"Redis at {store.safe_url} does not answer")
    data = gather_status(store, context.get_keys(settings), settings)
    click.echo(_json(data) if as_json else render_status(data), nl=as_json)
