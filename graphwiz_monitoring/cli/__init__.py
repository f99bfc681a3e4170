"""`graphwiz-monitoring`: the command line (click). Each command resolves settings, then calls the library."""

from __future__ import annotations

from typing import Any

import click

from graphwiz_monitoring import __version__
from graphwiz_monitoring.cli.options import CONFIG_OPTION, add_config_option, one_line
from graphwiz_monitoring.errors import GraphwizError


class _Main(click.Group):
    """Every library error ends the command with its message (exit 1), never a traceback; a bad command
    line (parsed in make_context for the root, in invoke for the subcommands) is one line (exit 2)."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise one_line(exc) from None
        except GraphwizError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Main)
@click.option("--config", "config", **CONFIG_OPTION)
@click.version_option(__version__, prog_name="graphwiz-monitoring")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """graphwiz-monitoring: monitoring and alerting for the graphwiz trading bot."""


# Each module registers its commands on `main` when imported (they import `main` from here).
from graphwiz_monitoring.cli import alerts, export, health, notifications, services, status  # noqa: E402, F401

add_config_option(main)  # --config on every command too: after every module registered its commands

__all__ = ["main"]
