"""Long-running services in the foreground: run (everything), exporter, realtime, flower."""

from __future__ import annotations

import errno
import os
import sys

import click

from graphwiz_monitoring.cli import main
from graphwiz_monitoring.cli.common import _load
from graphwiz_monitoring.cli.options import PORT
from graphwiz_monitoring.config import CONFIG_ENV_VAR
from graphwiz_monitoring.errors import ConfigError


@main.command("run")
@click.option("--demo", is_flag=True, help="add a clearly labelled synthetic trader feed")
@click.option("--state-dir", default=".graphwiz", show_default=True, type=click.Path(file_okay=False),
              help="where a locally started Redis keeps its data (AOF), beat its schedule, and logs/ the processes' logs")
@click.option("--verbose", is_flag=True, help="show every process's log output on the console too")
@click.pass_context
def run(ctx: click.Context, demo: bool, state_dir: str, verbose: bool) -> None:
    """Run the whole system on this machine: Redis (reused or started), worker + beat, exporter, realtime."""
    from pathlib import Path

    from graphwiz_monitoring.cli.supervisor import run_all

    settings = _load(ctx)
    code = run_all(settings, demo=demo, config_path=os.environ.get(CONFIG_ENV_VAR), state_dir=Path(state_dir),
                   verbose=verbose)
    sys.exit(code)


@main.command("exporter")
@click.option("--host", default=None, help="bind address (default: monitoring.prometheus_host)")
@click.option("--port", type=PORT, default=None, help="port (default: monitoring.prometheus_port)")
@click.pass_context
def exporter(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve /metrics (read from Redis at scrape time) and /healthz in the foreground until SIGTERM/Ctrl-C."""
    from graphwiz_monitoring.exporter.server import serve_forever

    settings = _load(ctx)
    if settings.monitoring.enable_prometheus is False:
        click.echo("note: monitoring.enable_prometheus is false; starting the exporter anyway", err=True)
    try:
        serve_forever(settings, host, port, announce=lambda line: click.echo(line, err=True))
    except OSError as exc:
        hint = (" (another exporter, or a trader with monitoring.enable_prometheus: true, serves it)"
                if exc.errno == errno.EADDRINUSE else "")
        raise click.ClickException(f"cannot serve on {host or settings.monitoring.prometheus_host}:"
                                   f"{port or settings.monitoring.prometheus_port}: {exc.strerror}{hint}") from None


@main.command("flower", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("flower_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def flower(ctx: click.Context, flower_args: tuple[str, ...]) -> None:
    """Run Flower with auth, address and port from the config (extra arguments go to Flower)."""
    from graphwiz_monitoring.celery.flower import flower_command, flower_options

    try:
        flower_options(_load(ctx))  # fail here, readably, rather than inside Flower
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    argv = flower_command(flower_args)
    sys.stdout.flush()
    os.execv(argv[0], argv)  # Flower becomes this process: signals and exit code are its own


@main.command("realtime")
@click.option("--host", default=None, help="bind address (default: websocket.host)")
@click.option("--port", type=PORT, default=None, help="port (default: websocket.port)")
@click.pass_context
def realtime(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the live WebSocket stream and status page (websocket.host/port) until SIGTERM or Ctrl-C."""
    import logging

    from graphwiz_monitoring import context
    from graphwiz_monitoring.realtime.server import run_realtime

    settings = _load(ctx)
    given = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if given:  # the same settings as from the file, so the bind check (no token off loopback) applies alike
        settings = settings.model_copy(update={"websocket": settings.websocket.model_copy(update=given)})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_realtime(settings, context.get_store(settings), context.get_keys(settings))


@main.command("telegram")
@click.pass_context
def telegram(ctx: click.Context) -> None:
    """Run the Telegram control bot (long polling) until SIGTERM or Ctrl-C: commands and alert buttons."""
    import logging
    import signal

    from graphwiz_monitoring import context
    from graphwiz_monitoring.chat.bot import TelegramBot

    settings = _load(ctx)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        bot = TelegramBot(settings, context.get_store(settings), context.get_keys(settings))
    except ValueError as exc:  # no bot token
        raise click.ClickException(str(exc)) from None
    signal.signal(signal.SIGTERM, bot.request_stop)
    signal.signal(signal.SIGINT, bot.request_stop)
    bot.run()
