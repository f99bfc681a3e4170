"""Helpers shared by the command modules: loading settings, failing cleanly, printing tables/JSON/times."""

from __future__ import annotations

import json
import os
from datetime import UTC
from typing import Any

import click

from graphwiz_monitoring.config import CONFIG_ENV_VAR, Settings
from graphwiz_monitoring.errors import GraphwizError


def _load(ctx: click.Context) -> Settings:
    """Settings for this invocation; --config is exported so child processes see the same file."""
    from graphwiz_monitoring import context

    path = ctx.find_root().params.get("config")
    if path:
        os.environ[CONFIG_ENV_VAR] = os.path.abspath(path)
        context.reset()
    return context.get_settings()  # a ConfigError becomes a clean exit through _Main


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


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


def _when(epoch: float | None) -> str:
    from datetime import datetime

    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
