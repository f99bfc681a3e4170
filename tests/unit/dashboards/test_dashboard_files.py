"""The committed files under dashboards/ are exactly what the code generates, and every panel is sound."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.dashboards import builtin_dashboards, rendered_files
from graphwiz_monitoring.dashboards.model import DATASOURCE, GRID_COLUMNS, SEVERITY_COLORS
from graphwiz_monitoring.dashboards.promql import CATALOG, MetricKind
from graphwiz_monitoring.dashboards.provisioning import DATASOURCE_UID
from tests.fakes.promql_lint import (
    COUNTERS,
    DASHBOARD_DIR,
    GAUGES,
    HISTOGRAMS,
    committed_dashboards,
    dashboard_exprs,
    problems,
)

PANEL_TYPES = {"timeseries", "stat", "table", "state-timeline", "row"}
# Written by hand, not generated: the compose stack's config template.
HANDWRITTEN = {Path("docker/monitoring.yaml")}


def test_committed_files_equal_freshly_generated_ones() -> None:
    generated = rendered_files(Settings())
    stale = [name for name, text in generated.items()
             if not (DASHBOARD_DIR / name).is_file() or (DASHBOARD_DIR / name).read_bytes() != text.encode("utf-8")]
    assert not stale, f"run `graphwiz-monitoring export-dashboards`: stale or missing {stale}"
    committed = {p.relative_to(DASHBOARD_DIR) for p in DASHBOARD_DIR.rglob("*") if p.is_file()}
    unexpected = committed - {Path(n) for n in generated} - HANDWRITTEN
    assert not unexpected, f"files under dashboards/ that nothing generates: {sorted(map(str, unexpected))}"


def test_catalog_matches_the_metric_contract() -> None:
    kinds = {name: m.kind for name, m in CATALOG.items()}
    assert {n for n, k in kinds.items() if k is MetricKind.COUNTER} == COUNTERS
    assert {n for n, k in kinds.items() if k is MetricKind.HISTOGRAM} == HISTOGRAMS
    assert {n for n, k in kinds.items() if k is MetricKind.GAUGE} == GAUGES


@pytest.mark.parametrize("name", sorted(committed_dashboards()))
def test_every_query_uses_each_metric_type_correctly(name: str) -> None:
    dashboard = committed_dashboards()[name]
    found = {f"{panel['title']}: {expr}: {p}" for panel, expr in dashboard_exprs(dashboard) for p in problems(expr)}
    assert not found, "\n".join(sorted(found))


@pytest.mark.parametrize("name", sorted(committed_dashboards()))
def test_panels_ids_layout_datasource_and_variables(name: str) -> None:
    dashboard = committed_dashboards()[name]
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {name}"
    assert {p["type"] for p in panels} <= PANEL_TYPES
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
        covered = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not covered & cells, f"panel {panel['title']!r} overlaps another"
        cells |= covered
        if panel["type"] != "row":
            assert panel["datasource"] == DATASOURCE
            assert all(t["datasource"] == DATASOURCE for t in panel["targets"])
            assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
    variables = dashboard["templating"]["list"]
    assert variables[0]["name"] == "datasource" and variables[0]["query"] == "prometheus"
    assert variables[0]["current"]["value"] == DATASOURCE_UID
    exprs = " ".join(expr for _, expr in dashboard_exprs(dashboard))
    for variable in variables[1:]:
        assert re.search(rf"\${variable['name']}\b", exprs), f"template variable {variable['name']} is never used"
        metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"]["query"]).groups()
        assert metric in GAUGES and label == variable["name"]
    used = set(re.findall(r"\$(\w+)", exprs))
    assert used <= {v["name"] for v in variables}, f"undeclared variables {used}"


def test_main_dashboard_filters_by_host_exchange_and_agent() -> None:
    main = committed_dashboards()["graphwiz-main.json"]
    names = [v["name"] for v in main["templating"]["list"]]
    assert names == ["datasource", "host", "exchange", "agent"]
    exprs = [expr for _, expr in dashboard_exprs(main)]
    assert any('host=~"$host"' in e for e in exprs)
    assert any('exchange=~"$exchange"' in e for e in exprs)
    assert any('agent=~"$agent"' in e for e in exprs)


def _panel(dashboard: dict, title: str) -> dict:
    return next(p for p in dashboard["panels"] if p["title"] == title)


def test_thresholds_are_coloured_by_the_alert_rules_severity() -> None:
    main = committed_dashboards()["graphwiz-main.json"]
    steps = lambda title: _panel(main, title)["fieldConfig"]["defaults"]["thresholds"]["steps"]  # noqa: E731
    assert steps("CPU")[-1] == {"color": SEVERITY_COLORS["warning"], "value": 90}  # type: ignore[index]
    assert steps("Current drawdown")[-1] == {"color": SEVERITY_COLORS["critical"], "value": 0.1}  # type: ignore[index]
    assert steps("Leverage")[-1] == {"color": SEVERITY_COLORS["emergency"], "value": 3}  # type: ignore[index]
    # rate-limit headroom is bad below the threshold
    assert steps("Rate limit remaining") == [{"color": SEVERITY_COLORS["warning"], "value": None},  # type: ignore[index]
                                             {"color": "green", "value": 10}]


def test_every_condition_only_query_says_why_and_the_rest_are_plain() -> None:
    for dashboard in builtin_dashboards().values():
        for panel, target in dashboard.targets():
            if target.condition_only is not None:
                assert len(target.condition_only) > 10, panel.title


def test_provisioning_points_grafana_at_the_dashboards_and_prometheus() -> None:
    datasource = yaml.safe_load((DASHBOARD_DIR / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["uid"] == DATASOURCE_UID
    assert datasource["datasources"][0]["type"] == "prometheus"
    provider = yaml.safe_load((DASHBOARD_DIR / "grafana/provisioning/dashboards/graphwiz.yml").read_text())
    assert provider["providers"][0]["type"] == "file"
    prometheus = yaml.safe_load((DASHBOARD_DIR / "prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == ["exporter:8000"]
    assert prometheus["rule_files"] == ["prometheus-rules.yml"]
    assert (DASHBOARD_DIR / prometheus["rule_files"][0]).is_file()
