"""A small typed model of Grafana's dashboard JSON (schemaVersion 39, Grafana 10/11).

Dashboards are rows of panels; ``Dashboard.to_dict()`` assigns unique panel ids and lays the panels
out on Grafana's 24-column grid (``gridPos``). Every query goes to the ``${datasource}`` variable, so
an imported dashboard works with whatever Prometheus datasource the user picks. A template variable
that no panel uses, or a panel using an undeclared one, is a DashboardError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from graphwiz_monitoring.errors import DashboardError
from graphwiz_monitoring.vocabulary import AlertSeverity

SCHEMA_VERSION = 39
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


def _number(value: float | None) -> float | int | None:
    """30.0 and 30 render alike, so the JSON does not depend on how a setting was given."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


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

    def to_dict(self, ref_id: str, table: bool) -> dict[str, Any]:
        return {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": self.expr,
            "format": "table" if table else "time_series",
            "instant": self.instant or table,
            "legendFormat": self.legend or "__auto",
            "range": not (self.instant or table),
            "refId": ref_id,
        }


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

    def _field_defaults(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            "color": {"mode": "palette-classic" if self.type == "timeseries" else "thresholds"},
            "mappings": [{"type": "value", "options": {
                f"{m.value:g}": {"color": m.color, "index": i, "text": m.text} for i, m in enumerate(self.mappings)
            }}] if self.mappings else [],
            "thresholds": {"mode": "absolute", "steps": [{"color": s.color, "value": _number(s.value)}
                                                         for s in self.thresholds]},
            "unit": self.unit,
        }
        for key in ("min", "max", "decimals"):
            if getattr(self, key) is not None:
                defaults[key] = _number(getattr(self, key))
        if self.type == "timeseries":
            # Draw the severity thresholds as dashed lines so a breach is visible at a glance.
            shown = "dashed" if len(self.thresholds) > 1 else "off"
            defaults["custom"] = {"drawStyle": "line", "fillOpacity": 10, "lineWidth": 1, "showPoints": "never",
                                  "spanNulls": False, "thresholdsStyle": {"mode": shown}}
        if self.type == "state-timeline":
            defaults["custom"] = {"fillOpacity": 80, "lineWidth": 0}
        return defaults

    def _options(self) -> dict[str, Any]:
        legend = {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True}
        if self.type == "timeseries":
            return {"legend": legend, "tooltip": {"mode": "multi", "sort": "desc"}}
        if self.type == "stat":
            return {"colorMode": "value", "graphMode": "area", "justifyMode": "auto", "orientation": "auto",
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "percentChangeColorMode": "standard", "showPercentChange": False, "textMode": "auto",
                    "wideLayout": True}
        if self.type == "table":
            return {"cellHeight": "sm", "footer": {"reducer": [], "show": False}, "frameIndex": 0, "showHeader": True}
        return {"alignValue": "left", "legend": legend, "mergeValues": True, "rowHeight": 0.9,
                "showValue": "auto", "tooltip": {"mode": "single", "sort": "none"}}

    def to_dict(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        table = self.type == "table"
        data: dict[str, Any] = {
            "datasource": DATASOURCE,
            "description": self.description,
            "fieldConfig": {"defaults": self._field_defaults(), "overrides": []},
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "id": panel_id,
            "options": self._options(),
            "targets": [t.to_dict(chr(ord("A") + i), table) for i, t in enumerate(self.targets)],
            "title": self.title,
            "type": self.type,
        }
        if table:
            # Instant table queries carry a Time column and scrape labels nobody needs to read.
            data["transformations"] = [{"id": "organize", "options": {
                "excludeByName": {"Time": True, "__name__": True, "instance": True, "job": True}}}]
        return data


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

    def to_dict(self) -> dict[str, Any]:
        query = f"label_values({self.metric}, {self.name})"
        return {
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "datasource": DATASOURCE,
            "hide": 0,
            "includeAll": True,
            "label": self.label,
            "multi": True,
            "name": self.name,
            "options": [],
            "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,
            "regex": "",
            "skipUrlSync": False,
            "sort": 1,
            "type": "query",
        }


def _datasource_variable() -> dict[str, Any]:
    return {
        "current": {"selected": False, "text": "Prometheus", "value": "graphwiz-prometheus"},
        "hide": 0,
        "includeAll": False,
        "label": "Datasource",
        "multi": False,
        "name": DATASOURCE_VARIABLE,
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


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
        """The Grafana JSON model, with panel ids and grid positions assigned."""
        self.validate()
        panels: list[dict[str, Any]] = []
        y = 0
        for row in self.rows:
            panels.append({"collapsed": False, "gridPos": {"h": 1, "w": GRID_COLUMNS, "x": 0, "y": y},
                           "id": len(panels) + 1, "panels": [], "title": row.title, "type": "row"})
            y += 1
            x, line_height = 0, 0
            for panel in row.panels:
                if x + panel.width > GRID_COLUMNS:
                    x, y, line_height = 0, y + line_height, 0
                panels.append(panel.to_dict(len(panels) + 1, x, y))
                x += panel.width
                line_height = max(line_height, panel.height)
            y += line_height
        return {
            "annotations": {"list": [{
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
                "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
                "type": "dashboard"}]},
            "description": self.description,
            "editable": True,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,  # shared crosshair across panels
            "id": None,
            "links": [{"asDropdown": True, "icon": "external link", "includeVars": False, "keepTime": True,
                       "tags": ["graphwiz"], "targetBlank": False, "title": "GraphWiz dashboards",
                       "tooltip": "", "type": "dashboards", "url": ""}],
            "panels": panels,
            "refresh": self.refresh,
            "schemaVersion": SCHEMA_VERSION,
            "tags": list(self.tags),
            "templating": {"list": [_datasource_variable(), *(v.to_dict() for v in self.variables)]},
            "time": {"from": self.time_from, "to": "now"},
            "timepicker": {},
            "timezone": "utc",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
            "weekStart": "",
        }


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
