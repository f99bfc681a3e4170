"""The Grafana JSON model of a dashboard, built with Grafana's own typed builders (grafana-foundation-sdk).

model.py says what a dashboard holds (rows of panels, their PromQL, thresholds, variables) and checks
it; this module turns that into Grafana's JSON through the SDK's builders and models for Grafana 11.1
(the version docker-compose pins; the SDK is released per Grafana version), so field names, enum values
and nesting are the schema's, not ours. tests/unit/dashboards/test_grafana_schema.py checks the result
against Grafana's published schema of the same version. Only the grid layout is ours: panels wrap
before they would overflow the 24 columns (the SDK's own layout wraps only after).
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import common as gc
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from graphwiz_monitoring.dashboards.model import (
    DATASOURCE_VARIABLE,
    GRID_COLUMNS,
    Dashboard,
    Panel,
    Target,
    Variable,
)
from graphwiz_monitoring.dashboards.provisioning import DATASOURCE_UID

_DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VARIABLE + "}")
# Instant table queries carry a Time column and scrape labels nobody needs to read.
_TABLE_HIDDEN = {"Time": True, "__name__": True, "instance": True, "job": True}


def _number(value: float | None) -> float | int | None:
    """30.0 and 30 render alike, so the JSON does not depend on how a setting was given."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _query(target: Target, ref_id: str, as_table: bool) -> prometheus.Dataquery:
    query = (prometheus.Dataquery().datasource(_DATASOURCE).editor_mode(pm.QueryEditorMode.CODE).expr(target.expr)
             .format(pm.PromQueryFormat.TABLE if as_table else pm.PromQueryFormat.TIME_SERIES)
             .legend_format(target.legend or "__auto").ref_id(ref_id))
    return query.instant() if target.instant or as_table else query.range()


def _legend() -> gc.VizLegendOptions:
    return (gc.VizLegendOptions().calcs([]).display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM).show_legend(True))


def _timeseries(panel: Panel) -> timeseries.Panel:
    # Severity thresholds drawn as dashed lines, so a breach is visible at a glance.
    shown = cm.GraphThresholdsStyleMode.DASHED if len(panel.thresholds) > 1 else cm.GraphThresholdsStyleMode.OFF
    return (timeseries.Panel().legend(_legend())
            .tooltip(gc.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
            .draw_style(cm.GraphDrawStyle.LINE).fill_opacity(10).line_width(1)
            .show_points(cm.VisibilityMode.NEVER).span_nulls(False)
            .thresholds_style(gc.GraphThresholdsStyleConfig().mode(shown)))


def _stat(panel: Panel) -> stat.Panel:
    return (stat.Panel().color_mode(cm.BigValueColorMode.VALUE).graph_mode(cm.BigValueGraphMode.AREA)
            .justify_mode(cm.BigValueJustifyMode.AUTO).orientation(cm.VizOrientation.AUTO)
            .reduce_options(gc.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))
            .percent_change_color_mode(cm.PercentChangeColorMode.STANDARD).show_percent_change(False)
            .text_mode(cm.BigValueTextMode.AUTO).wide_layout(True))


def _table(panel: Panel) -> table.Panel:
    return (table.Panel().cell_height(cm.TableCellHeight.SM).footer(gc.TableFooterOptions().show(False).reducer([]))
            .frame_index(0).show_header(True)
            .with_transformation(dm.DataTransformerConfig(id_val="organize",
                                                          options={"excludeByName": dict(_TABLE_HIDDEN)})))


def _state_timeline(panel: Panel) -> statetimeline.Panel:
    return (statetimeline.Panel().align_value(cm.TimelineValueAlignment.LEFT).legend(_legend())
            .merge_values(True).row_height(0.9).show_value(cm.VisibilityMode.AUTO)
            .tooltip(gc.VizTooltipOptions().mode(cm.TooltipDisplayMode.SINGLE).sort(cm.SortOrder.NONE))
            .fill_opacity(80).line_width(0))


_PLUGINS: dict[str, Any] = {"timeseries": _timeseries, "stat": _stat, "table": _table, "state-timeline": _state_timeline}


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> Any:
    as_table = panel.type == "table"
    builder = (_PLUGINS[panel.type](panel).id(panel_id).title(panel.title).description(panel.description)
               .datasource(_DATASOURCE).grid_pos(dm.GridPos(h=panel.height, w=panel.width, x=x, y=y))
               .unit(panel.unit)
               .color_scheme(gd.FieldColor().mode(dm.FieldColorModeId.PALETTE_CLASSIC if panel.type == "timeseries"
                                                  else dm.FieldColorModeId.THRESHOLDS))
               .thresholds(gd.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
                   [dm.Threshold(value=_number(s.value), color=s.color) for s in panel.thresholds]))
               .mappings([dm.ValueMap(options={f"{m.value:g}": dm.ValueMappingResult(text=m.text, color=m.color, index=i)
                                               for i, m in enumerate(panel.mappings)})] if panel.mappings else []))
    if panel.min is not None:
        builder.min(_number(panel.min))
    if panel.max is not None:
        builder.max(_number(panel.max))
    if panel.decimals is not None:
        builder.decimals(panel.decimals)
    for i, target in enumerate(panel.targets):
        builder.with_target(_query(target, chr(ord("A") + i), as_table))
    return builder


def _variable(variable: Variable) -> gd.QueryVariable:
    """A multi-value ``label_values(<metric>, <name>)`` variable, all selected by default."""
    query = f"label_values({variable.metric}, {variable.name})"
    return (gd.QueryVariable(variable.name).label(variable.label).datasource(_DATASOURCE)
            .query({"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"})
            .current(dm.VariableOption(selected=True, text=["All"], value=["$__all"]))
            .multi(True).include_all(True).all_value(".*").hide(dm.VariableHide.DONT_HIDE)
            .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dm.VariableSort.ALPHABETICAL_ASC).regex(""))


def _datasource_variable() -> gd.DatasourceVariable:
    """``${datasource}``: every query goes through it, so an imported dashboard works with any Prometheus."""
    return (gd.DatasourceVariable(DATASOURCE_VARIABLE).label("Datasource").type("prometheus")
            .current(dm.VariableOption(selected=False, text="Prometheus", value=DATASOURCE_UID))
            .hide(dm.VariableHide.DONT_HIDE).multi(False).include_all(False).regex(""))


def build(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana JSON model of ``dashboard`` (already validated), panel ids and grid positions assigned."""
    out = (gd.Dashboard(dashboard.title).uid(dashboard.uid).description(dashboard.description)
           .tags(list(dashboard.tags)).refresh(dashboard.refresh).time(dashboard.time_from, "now")
           .timezone("utc").week_start("").editable().tooltip(dm.DashboardCursorSync.CROSSHAIR)
           .annotation(gd.AnnotationQuery().name("Annotations & Alerts").built_in(1).enable(True).hide(True)
                       .icon_color("rgba(0, 211, 255, 1)").type("dashboard")
                       .datasource(dm.DataSourceRef(type_val="grafana", uid="-- Grafana --")))
           .link(gd.DashboardLink("GraphWiz dashboards").type(dm.DashboardLinkType.DASHBOARDS).tags(["graphwiz"])
                 .as_dropdown(True).icon("external link").include_vars(False).keep_time(True).target_blank(False)
                 .tooltip("").url(""))
           .with_variable(_datasource_variable()))
    for variable in dashboard.variables:
        out.with_variable(_variable(variable))
    panel_id, y = 1, 0
    for row in dashboard.rows:
        out.with_row(gd.Row(row.title).id(panel_id).grid_pos(dm.GridPos(h=1, w=GRID_COLUMNS, x=0, y=y)))
        panel_id, y = panel_id + 1, y + 1
        x, line_height = 0, 0
        for panel in row.panels:
            if x + panel.width > GRID_COLUMNS:
                x, y, line_height = 0, y + line_height, 0
            out.with_panel(_panel(panel, panel_id, x, y))
            panel_id, x, line_height = panel_id + 1, x + panel.width, max(line_height, panel.height)
        y += line_height
    model = out.build()
    for built in (model.templating.list_val or []) if model.templating else []:
        if built.type_val != dm.VariableType.INTERVAL:
            # The SDK's 11.1 release gives every variable the interval variable's auto* fields; Grafana
            # 11.1.3's own schema has no such fields on a query or datasource variable.
            built.auto = built.auto_min = built.auto_count = None
    data: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(model))
    return data
