"""What a dashboard holds: rows of panels, their PromQL, thresholds and template variables, checked.

``Dashboard.to_dict()`` renders it as Grafana JSON with grafana-foundation-sdk (grafana_json.py), which
assigns unique panel ids and lays the panels out on Grafana's 24-column grid. Every query goes to the
``${datasource}`` variable, so an imported dashboard works with whatever Prometheus datasource the user
picks. A template variable that no panel uses, or a panel using an undeclared one, is a DashboardError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from graphwiz_monitoring.errors import DashboardError
from graphwiz_monitoring.vocabulary import AlertSeverity

GRID_COLUMNS = 24
DATASOURCE_VARIABLE = "datasource"
DATASOURCE = {"type": "prometheus", "uid": "${" + DATASOURCE_VARIABLE + "}"}
PanelType = Literal["timeseries", "stat", "table", "state-timeline"]

# Colours by severity, the same as the Discord embeds (REFERENCE.md); "ok" is Grafana's green.
OK_COLOR = "green"
NEUTRAL_COLOR = "#8E8E8E"
SEVERITY_COLORS: dict[AlertSeverity, str] = {
    AlertSeverity.INFO: "#3498DB",
    AlertSeverity.WARNING: "#FF9500",
    AlertSeverity.CRITICAL: "#FF0000",
    AlertSeverity.EMERGENCY: "#9B59B6",
}
_VARIABLE_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_GRAFANA_BUILTINS = frozenset({"__interval", "__rate_interval", "__range", "__range_s", DATASOURCE_VARIABLE})


@dataclass(frozen=True)
class Step:
    """One threshold step: from ``value`` upwards (None = the base colour) the field is ``color``."""

    color: str
    value: float | None = None


def above(value: float, severity: AlertSeverity, *more: tuple[float, AlertSeverity]) -> tuple[Step, ...]:
    """Green below ``value``, the severity's colour at and above it (then any further steps)."""
    steps = [Step(OK_COLOR), Step(SEVERITY_COLORS[severity], value)]
    steps += [Step(SEVERITY_COLORS[s], v) for v, s in more]
    return tuple(steps)


def below(value: float, severity: AlertSeverity) -> tuple[Step, ...]:
    """The severity's colour below ``value``, green at and above it (e.g. rate-limit headroom)."""
    return (Step(SEVERITY_COLORS[severity]), Step(OK_COLOR, value))


@dataclass(frozen=True)
class ValueText:
    """A value mapping: show ``text`` in ``color`` for the exact value ``value`` (state timelines)."""

    value: float
    text: str
    color: str


@dataclass(frozen=True)
class Target:
    """One PromQL query of a panel.

    ``condition_only`` gives the reason when the expression may legitimately return no series (it
    filters for a condition such as "alerts firing"); the live dashboard test accepts it being empty.
    """

    expr: str
    legend: str = ""
    instant: bool = False
    condition_only: str | None = None


@dataclass(frozen=True)
class Panel:
    title: str
    type: PanelType
    targets: tuple[Target, ...]
    unit: str = "short"
    description: str = ""
    width: int = 6
    height: int = 8
    thresholds: tuple[Step, ...] = (Step(OK_COLOR),)
    mappings: tuple[ValueText, ...] = ()
    min: float | None = None
    max: float | None = None
    decimals: int | None = None

    def __post_init__(self) -> None:
        if not self.targets:
            raise DashboardError(f"panel {self.title!r} has no query")
        if not 1 <= self.width <= GRID_COLUMNS:
            raise DashboardError(f"panel {self.title!r}: width must be 1..{GRID_COLUMNS}")
        values = [s.value for s in self.thresholds[1:]]
        if self.thresholds[0].value is not None or any(v is None for v in values) or values != sorted(values):  # type: ignore[type-var]
            raise DashboardError(f"panel {self.title!r}: thresholds need a base step then ascending values")


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Variable:
    """A multi-value query variable filled by ``label_values(<metric>, <label>)``; panels use ``$name``."""

    name: str
    label: str
    metric: str


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    variables: tuple[Variable, ...] = ()
    tags: tuple[str, ...] = ("graphwiz",)
    refresh: str = "30s"
    time_from: str = "now-6h"

    def targets(self) -> Iterator[tuple[Panel, Target]]:
        for row in self.rows:
            for panel in row.panels:
                for target in panel.targets:
                    yield panel, target

    def validate(self) -> None:
        """Raise DashboardError if a variable is unused, or a query uses an undeclared variable."""
        declared = {v.name for v in self.variables}
        used: set[str] = set()
        for panel, target in self.targets():
            refs = set(_VARIABLE_REF.findall(target.expr)) - _GRAFANA_BUILTINS
            unknown = refs - declared
            if unknown:
                raise DashboardError(f"{self.uid}: panel {panel.title!r} uses undeclared variable(s) {sorted(unknown)}")
            used |= refs
        unused = declared - used
        if unused:
            raise DashboardError(f"{self.uid}: template variable(s) {sorted(unused)} not used by any panel")

    def to_dict(self) -> dict[str, Any]:
        """The Grafana JSON model (built with grafana-foundation-sdk: grafana_json.py), panel ids and grid
        positions assigned; DashboardError if the dashboard is inconsistent (validate())."""
        self.validate()
        from graphwiz_monitoring.dashboards.grafana_json import build  # here: it renders this module's types

        return build(self)


# ------------------------------------------------------------------ shorthands used by the dashboards

def q(expr: str, legend: str = "", *, condition_only: str | None = None) -> Target:
    return Target(expr, legend, condition_only=condition_only)


def timeseries(title: str, *targets: Target, unit: str = "short", width: int = 12, **kw: Any) -> Panel:
    return Panel(title, "timeseries", targets, unit=unit, width=width, **kw)


def stat(title: str, *targets: Target, unit: str = "short", width: int = 4, height: int = 4, **kw: Any) -> Panel:
    return Panel(title, "stat", targets, unit=unit, width=width, height=height, **kw)


def table(title: str, target: Target, unit: str = "short", width: int = 12, **kw: Any) -> Panel:
    return Panel(title, "table", (target,), unit=unit, width=width, **kw)


def state_timeline(title: str, *targets: Target, mappings: tuple[ValueText, ...], width: int = 12,
                   **kw: Any) -> Panel:
    return Panel(title, "state-timeline", targets, mappings=mappings, width=width, **kw)
