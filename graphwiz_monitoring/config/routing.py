"""Routing settings: named destinations' names, ``alerts.routes`` (matchers -> destinations), grouping.

A destination is a channel type (``telegram``: the channel's own, single-destination settings, as in
the original description) or ``<type>:<name>`` (``telegram:ops``: one entry of
``notifications.telegram.destinations``). Routes match an alert's labels plus ``rule`` and
``severity`` (shell-style patterns, as silences do; a list of values matches any of them). Whether
a named destination exists is checked by the root settings model, which sees both sections.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from graphwiz_monitoring.config.fields import StrictModel
from graphwiz_monitoring.vocabulary import AlertChannel

DESTINATION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
DEFAULT_GROUP_INTERVAL_SECONDS = 5.0


def check_destination_name(name: Any) -> str:
    """A destination's own name (the ``ops`` of ``telegram:ops``): lower case letters, digits, ``_``, ``-``."""
    if not isinstance(name, str) or not DESTINATION_NAME.match(name):
        raise ValueError(f"destination name must be 1-40 characters a-z, 0-9, '_' or '-' (starting with a letter "
                         f"or digit), got {name!r}")
    return name


def parse_destination(value: Any) -> tuple[AlertChannel, str | None]:
    """``"telegram"`` -> (TELEGRAM, None); ``"telegram:ops"`` -> (TELEGRAM, "ops"); ValueError otherwise."""
    text = str(getattr(value, "value", value)).strip()
    kind, sep, name = text.partition(":")
    channel = AlertChannel.parse(kind)
    if not sep:
        return channel, None
    return channel, check_destination_name(name.lower())


def destination_text(value: Any) -> str:
    """The canonical spelling of a destination (``Telegram:ops`` -> ``telegram:ops``)."""
    channel, name = parse_destination(value)
    return channel.value if name is None else f"{channel.value}:{name}"


def _destinations(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"must be a non-empty list of destinations (telegram, telegram:ops, ...), got {value!r}")
    return list(dict.fromkeys(destination_text(v) for v in value))


def _matchers(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping label -> value (or list of values), got {value!r}")
    out: dict[str, list[str]] = {}
    for label, wanted in value.items():
        values = wanted if isinstance(wanted, (list, tuple)) else [wanted]
        if not values or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
            raise ValueError(f"label {label!r}: must be a value or a list of values, got {wanted!r}")
        out[str(label)] = [str(v) for v in values]
    return out


Destinations = Annotated[list[str], BeforeValidator(_destinations)]
Matchers = Annotated[dict[str, list[str]], BeforeValidator(_matchers)]


class RouteSettings(StrictModel):
    """One route: when every matcher matches (an empty ``match`` matches all), notify ``destinations``;
    the first matching route wins unless it says ``continue: true`` (Alertmanager's semantics)."""

    match: Matchers = Field(default_factory=dict)
    destinations: Destinations
    continue_: bool = Field(False, alias="continue")


def _group_by(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"must be a list of label names (rule, severity, exchange, ...), got {value!r}")
    return list(dict.fromkeys(v.strip() for v in value))


GroupBy = Annotated[list[str], BeforeValidator(_group_by)]
