"""`graphwiz-monitoring`: the command line (click). Each command resolves settings, then calls the library."""

from __future__ import annotations

from typing import Any

import click

from graphwiz_monitoring.config import CONFIG_ENV_VAR
from graphwiz_monitoring.errors import GraphwizError


class _Main(click.Group):
    """Every library error ends the command with its message (exit 1), never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GraphwizError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Main)
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help=f"monitoring.yaml to use (default: ${CONFIG_ENV_VAR}, then ./monitoring.yaml)")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """graphwiz-monitoring: monitoring and alerting for the graphwiz trading bot."""


# Each module registers its commands on `main` when imported (they import `main` from here).
from graphwiz_monitoring.cli import alerts, export, health, notifications, services, status  # noqa: E402, F401

__all__ = ["main"]
