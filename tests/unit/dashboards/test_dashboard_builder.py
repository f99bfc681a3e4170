"""The typed builder refuses wrong PromQL and wrong dashboards; settings flow into thresholds; original API."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from graphwiz_monitoring.alerting.models import AlertSeverity
from graphwiz_monitoring.cli import main
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.dashboards import (
    DashboardConfig,
    export_all,
    export_dashboard_to_file,
    rendered_files,
)
from graphwiz_monitoring.dashboards.model import (
    SEVERITY_COLORS,
    Dashboard,
    Panel,
    Row,
    Step,
    Target,
    Variable,
    timeseries,
)
from graphwiz_monitoring.dashboards.promql import gauge, increase, mean, quantile, rate
from graphwiz_monitoring.dashboards.trading import trading_dashboard
from graphwiz_monitoring.errors import DashboardError, GraphwizError
from tests.fakes.promql_lint import problems


def test_typed_promql_builds_correct_expressions() -> None:
    assert rate("graphwiz_agent_predictions_total", agent="$agent") == \
        'rate(graphwiz_agent_predictions_total{agent=~"$agent"}[5m])'
    assert quantile(0.99, "graphwiz_exchange_latency_seconds", ("exchange",)) == (
        "histogram_quantile(0.99, sum by (le, exchange) (rate(graphwiz_exchange_latency_seconds_bucket[5m])))")
    assert gauge("graphwiz_health_status", check="agent_health") == 'graphwiz_health_status{check="agent_health"}'
    assert increase("graphwiz_trading_execution_seconds", "1h", "_count") == \
        "increase(graphwiz_trading_execution_seconds_count[1h])"
    assert not problems(mean("graphwiz_trading_execution_seconds"))


@pytest.mark.parametrize("build", [
    lambda: rate("graphwiz_trading_pnl_usd"),                          # rate over a gauge
    lambda: increase("graphwiz_risk_positions"),                       # increase over a gauge
    lambda: rate("graphwiz_exchange_latency_seconds"),                 # a histogram without its series
    lambda: quantile(0.99, "graphwiz_exchange_connected"),             # quantile of a gauge
    lambda: quantile(1.5, "graphwiz_exchange_latency_seconds"),
    lambda: gauge("graphwiz_exchange_latency_seconds"),                # histogram as a plain selector
    lambda: gauge("graphviz_exchange_connected"),                      # the original's typo
    lambda: gauge("graphwiz_exchange_connected", host="$host"),        # a label the metric lacks
])
def test_typed_promql_refuses_wrong_combinations(build) -> None:
    with pytest.raises(DashboardError):
        build()
    assert issubclass(DashboardError, GraphwizError)


@pytest.mark.parametrize("expr, expected", [
    ("rate(graphwiz_trading_pnl_usd[5m])", "not a counter"),
    ("graphwiz_trading_total_trades", "unknown series"),
    ("histogram_quantile(0.9, rate(graphwiz_exchange_latency_seconds_bucket[5m]))", "sum by (le"),
    ("histogram_quantile(0.9, sum by (le) (graphwiz_exchange_fill_ratio))", "not only _bucket"),
    ("graphwiz_exchange_latency_seconds_bucket", "without rate()"),
    ("graphwiz_trading_total_trades_total / 2", "without rate()/increase()"),
])
def test_the_independent_lint_catches_what_it_must(expr: str, expected: str) -> None:
    assert any(expected in p for p in problems(expr)), problems(expr)


def _dashboard(*variables: Variable, expr: str = 'graphwiz_system_load1{host=~"$host"}') -> Dashboard:
    return Dashboard("u", "t", "d", (Row("r", (timeseries("p", Target(expr)),)),), variables)


def test_variables_must_be_declared_and_used() -> None:
    host = Variable("host", "Host", "graphwiz_system_cpu_usage_percent")
    assert _dashboard(host).to_dict()["templating"]["list"][1]["query"]["query"] == \
        "label_values(graphwiz_system_cpu_usage_percent, host)"
    with pytest.raises(DashboardError, match="undeclared"):
        _dashboard().to_dict()
    with pytest.raises(DashboardError, match="not used"):
        _dashboard(host, Variable("agent", "Agent", "graphwiz_agent_accuracy")).to_dict()


def test_panels_validate_thresholds_width_and_queries() -> None:
    with pytest.raises(DashboardError):
        Panel("p", "stat", ())
    with pytest.raises(DashboardError):
        Panel("p", "stat", (Target("up"),), width=25)
    with pytest.raises(DashboardError):
        Panel("p", "stat", (Target("up"),), thresholds=(Step("green"), Step("red", 5), Step("orange", 1)))


def test_layout_wraps_rows_and_numbers_panels() -> None:
    panels = [timeseries(f"p{i}", Target("up"), width=10) for i in range(3)]
    data = Dashboard("u", "t", "d", (Row("a", tuple(panels)), Row("b", (panels[0],)))).to_dict()["panels"]
    assert [p["id"] for p in data] == [1, 2, 3, 4, 5, 6]
    assert [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in data] == [(0, 0), (0, 1), (10, 1), (0, 9), (0, 17), (0, 18)]
    assert data[0]["type"] == data[4]["type"] == "row"


def _steps(dashboard: dict, title: str) -> list[dict]:
    return next(p for p in dashboard["panels"] if p["title"] == title)["fieldConfig"]["defaults"]["thresholds"]["steps"]


def test_rule_overrides_move_panel_thresholds() -> None:
    settings = parse_settings({"alerts": {"rules": {"high_cpu": {"threshold": 75, "severity": "critical"}}},
                               "health_checks": {"checks": {"portfolio_health": {"thresholds": {"max_positions": 7}}}}},
                              env={})
    data = trading_dashboard(settings).to_dict()
    assert _steps(data, "CPU")[-1] == {"color": SEVERITY_COLORS[AlertSeverity.CRITICAL], "value": 75}
    assert _steps(data, "Open positions")[-1]["value"] == 7
    assert _steps(DashboardConfig.get_default_dashboard(), "CPU")[-1]["value"] == 90


def test_original_api_returns_grafana_json_and_exports_it(tmp_path) -> None:
    main_dashboard = DashboardConfig.get_default_dashboard()
    alerts = DashboardConfig.get_alerts_dashboard()
    assert main_dashboard["uid"] == "graphwiz-main" and alerts["uid"] == "graphwiz-alerts"
    assert DashboardConfig.get_health_dashboard()["uid"] == "graphwiz-health"
    assert DashboardConfig.get_queues_dashboard()["uid"] == "graphwiz-queues"
    path = export_dashboard_to_file(main_dashboard, tmp_path / "graphwiz-main.json")
    assert json.loads(path.read_text()) == main_dashboard
    export_dashboard_to_file(alerts, tmp_path / "nested" / "graphwiz-alerts.json")
    assert json.loads((tmp_path / "nested" / "graphwiz-alerts.json").read_text())["title"] == alerts["title"]


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """The CLI exports --config into the environment and caches settings: undo both afterwards."""
    from graphwiz_monitoring import context

    defaults = tmp_path / "defaults.yaml"
    defaults.write_text("{}\n")
    monkeypatch.setenv("GRAPHWIZ_CONFIG", str(defaults))
    monkeypatch.chdir(tmp_path)
    context.reset()
    yield
    context.reset()


def test_export_all_and_the_cli_write_every_file(tmp_path, cli_env) -> None:
    written = export_all(tmp_path / "a")
    assert sorted(p.relative_to(tmp_path / "a").as_posix() for p in written) == sorted(rendered_files())
    result = CliRunner().invoke(main, ["export-dashboards", "--out", "b"])
    assert result.exit_code == 0, result.output
    for name, text in rendered_files().items():
        assert (tmp_path / "b" / name).read_text() == text
    config = tmp_path / "m.yaml"
    config.write_text("alerts:\n  rules:\n    disk_space:\n      threshold: 85\n")
    result = CliRunner().invoke(main, ["--config", str(config), "export-rules", "--out", "rules.yml"])
    assert result.exit_code == 0, result.output
    assert "graphwiz_system_disk_usage_percent > 85\n" in (tmp_path / "rules.yml").read_text()
