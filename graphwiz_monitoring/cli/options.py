"""Option conventions of every command: checked value types, ``--config`` on each command, one-line usage errors.

A bad option value is a click usage error (exit 2) naming the option and the value, raised while click
parses the command line, before any settings are loaded or Redis is contacted. The checks are the ones of
the configuration keys the options stand for (config/fields.py), so ``--port 99999`` and
``prometheus_port: 99999`` are refused with the same words.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import click

from graphwiz_monitoring.config import CONFIG_ENV_VAR
from graphwiz_monitoring.config.fields import port_value, positive_seconds
from graphwiz_monitoring.errors import GraphwizError


class _Checked(click.ParamType):
    """A value converted by ``convert``; its ValueError (or library error) becomes click's 'Invalid value'."""

    def __init__(self, name: str, convert: Callable[[str], Any]) -> None:
        self.name = name
        self._convert = convert

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):  # a default given as a value already
            return value
        try:
            return self._convert(value)
        except (ValueError, GraphwizError) as exc:
            self.fail(str(exc), param, ctx)


def _non_negative(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"must be a number >= 0, got {text!r}")
    return number


def _count(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(f"must be a whole number >= 1, got {text!r}")
    return number


def _duration(text: str) -> float:
    from graphwiz_monitoring.rulebook.silences import parse_duration

    return parse_duration(text)


def _time(text: str) -> float:
    from graphwiz_monitoring.rulebook.silences import parse_time

    return parse_time(text)


def _severity(text: str) -> Any:
    from graphwiz_monitoring.vocabulary import AlertSeverity

    return AlertSeverity.parse(text)


def _channel(text: str) -> str:
    """A channel type or a named destination of one (``telegram:ops``), canonical; or ``all``."""
    from graphwiz_monitoring.config.routing import destination_text

    return "all" if text.strip().lower() == "all" else destination_text(text)


PORT = _Checked("port", port_value)
POSITIVE = _Checked("positive number", positive_seconds)
NON_NEGATIVE = _Checked("number >= 0", _non_negative)
COUNT = _Checked("count", _count)
DURATION = _Checked("duration", _duration)
TIME = _Checked("time", _time)
SEVERITY = _Checked("severity", _severity)
CHANNEL = _Checked("channel", _channel)


def _remember_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--config`` after a subcommand: stored where the root's own option would have put it."""
    if value is not None:
        ctx.find_root().params["config"] = value


# The root's --config (its value is the root's "config" parameter) and every command's (config_option).
CONFIG_OPTION: dict[str, Any] = {
    "type": click.Path(dir_okay=False, exists=True), "default": None,
    "help": f"monitoring.yaml to use (default: ${CONFIG_ENV_VAR}, then ./monitoring.yaml); before or after the command",
}


def config_option() -> click.Option:
    return click.Option(["--config"], expose_value=False, is_eager=True, callback=_remember_config, **CONFIG_OPTION)


def add_config_option(command: click.Command) -> None:
    """Give ``command`` and every subcommand a ``--config`` (unless it has its own, as check-config does);
    whichever level it is given at, ``ctx.find_root().params["config"]`` holds it."""
    if not any("--config" in getattr(p, "opts", ()) for p in command.params):
        command.params.append(config_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_config_option(sub)


def one_line(exc: click.UsageError) -> click.UsageError:
    """The usage error without click's usage block: one line naming the option and value, and where help is."""
    where = exc.ctx.command_path if exc.ctx is not None else None
    text = exc.format_message()  # e.g. "Invalid value for '--port': must be 1..65535, got '99999'"
    return click.UsageError(f"{text} (see '{where} --help')" if where else text)  # no ctx: no usage block
