"""Shared building blocks of the settings models: the strict base model and validated field types."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from graphwiz_monitoring.http_access import host_list
from graphwiz_monitoring.vocabulary import AlertChannel, AlertSeverity


def port_value(value: Any) -> Any:
    """The check of Port (the CLI's --port options use it too)."""
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be 1..65535, got {value!r}") from None
    if isinstance(value, bool) or not 1 <= port <= 65535 or (isinstance(value, float) and value != port):
        raise ValueError(f"must be 1..65535, got {value!r}")
    return port


def positive_seconds(value: Any) -> Any:
    """The check of PositiveSeconds (validators that read a raw value first use it too)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a positive number, got {value!r}") from None
    if isinstance(value, bool) or not number > 0 or number != number or number == float("inf"):
        raise ValueError(f"must be a positive number, got {value!r}")
    return number


Port = Annotated[int, BeforeValidator(port_value)]
PositiveSeconds = Annotated[float, BeforeValidator(positive_seconds)]
# Host allow-list of an HTTP server (http_access.py): ``name`` / ``name:port`` / ``*``; a comma-separated string too.
HostList = Annotated[list[str], BeforeValidator(host_list)]


def _severity(value: Any) -> AlertSeverity:
    return AlertSeverity.parse(value)


def _channels(value: Any) -> list[AlertChannel]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"must be a list of channels, got {value!r}")
    return [AlertChannel.parse(v) for v in value]


Severity = Annotated[AlertSeverity, BeforeValidator(_severity)]
Channels = Annotated[list[AlertChannel], BeforeValidator(_channels)]


class StrictModel(BaseModel):
    """Base of every settings section: unknown keys are errors, ``from`` style aliases accepted by name too."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
