"""`graphwiz-monitoring`: the command line (click). Each command resolves settings, then calls the library."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
import yaml

from .config import CONFIG_ENV_VAR, Settings
from .errors import ConfigError, GraphwizError


def _load(ctx: click.Context) -> Settings:
    """Settings for this invocation; --config is exported so child processes see the same file."""
    from . import context

    path = ctx.find_root().params.get("config")
    if path:
        os.environ[CONFIG_ENV_VAR] = os.path.abspath(path)
        context.reset()
    try:
        return context.get_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _fail(exc: GraphwizError) -> None:
    raise click.ClickException(str(exc))


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        click.echo("  (none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    click.echo("  " + "  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        click.echo("  " + "  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


@click.group()
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help=f"monitoring.yaml to use (default: ${CONFIG_ENV_VAR}, then ./monitoring.yaml)")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """graphwiz-monitoring: monitoring and alerting for the graphwiz trading bot."""


@main.command("check-config")
@click.option("--config", "local_config", type=click.Path(dir_okay=False), default=None, help="file to check")
@click.pass_context
def check_config(ctx: click.Context, local_config: str | None) -> None:
    """Print the effective configuration (secrets masked), or every error; non-zero exit on error."""
    from .config import load_settings

    path = local_config or ctx.find_root().params.get("config")
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(yaml.safe_dump(settings.masked(), sort_keys=False))
    click.echo("configuration OK", err=True)


@main.command("run")
@click.option("--demo", is_flag=True, help="add a clearly labelled synthetic trader feed")
@click.option("--state-dir", default=".graphwiz", show_default=True, type=click.Path(file_okay=False),
              help="where a locally started Redis keeps its data (AOF) and beat its schedule")
@click.pass_context
def run(ctx: click.Context, demo: bool, state_dir: str) -> None:
    """Run the whole system on this machine: Redis (reused or started), worker + beat, exporter, realtime."""
    from pathlib import Path

    from .supervisor import run_all

    settings = _load(ctx)
    try:
        code = run_all(settings, demo=demo, config_path=os.environ.get(CONFIG_ENV_VAR), state_dir=Path(state_dir))
    except GraphwizError as exc:
        _fail(exc)
    sys.exit(code)


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


# ------------------------------------------------------------------ metrics (issue 3 adds commands here)

# ------------------------------------------------------------------ alerting (issue 4 adds commands here)

# ------------------------------------------------------------------ health / recovery (issue 5 adds commands here)

# ------------------------------------------------------------------ dashboards / realtime / status (issue 6 adds commands here)


if __name__ == "__main__":  # pragma: no cover
    main()
