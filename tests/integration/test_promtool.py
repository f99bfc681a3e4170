"""The exported Prometheus/Alertmanager files pass Prometheus' own tools, and every alert fires when it must."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.dashboards import export_all, export_rules
from graphwiz_monitoring.dashboards.provisioning import alertmanager_config
from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
RULE_TESTS = Path(__file__).parent / "promtool" / "builtin_rules_test.yml"


def _run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)


def test_promtool_check_rules_on_committed_and_freshly_exported_files(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    result = _run(promtool, "check", "rules", DASHBOARDS / "prometheus-rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 22 rules found" in result.stdout
    settings = parse_settings({"alerts": {"rules": {"high_latency": {"threshold": 0.75, "for_seconds": 90},
                                                    "rate_limit": {"enabled": False}}}}, env={})
    fresh = export_rules(tmp_path / "rules.yml", settings)
    result = _run(promtool, "check", "rules", fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 21 rules found" in result.stdout


def test_promtool_check_config_loads_prometheus_yml_and_its_rules(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    result = _run(promtool, "check", "config", DASHBOARDS / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout
    export_all(tmp_path)  # the exported directory is self-contained too
    assert _run(promtool, "check", "config", tmp_path / "prometheus.yml").returncode == 0


def test_promtool_unit_tests_fire_each_alert_exactly_when_breached() -> None:
    promtool = require_binary("promtool")
    tests = yaml.safe_load(RULE_TESTS.read_text())
    rules = yaml.safe_load((DASHBOARDS / "prometheus-rules.yml").read_text())
    alert_names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    firing = {t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"] if t["exp_alerts"]}
    quiet = {t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"] if not t["exp_alerts"]}
    assert firing == alert_names, f"rules without a firing test: {alert_names - firing}"
    # high_memory and high_latency test quiet series alongside; the watchdog is never quiet, by design
    assert quiet >= alert_names - {"high_memory", "high_latency", "graphwiz_watchdog"}
    result = _run(promtool, "test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_accepts_alertmanager_yml() -> None:
    amtool = require_binary("amtool")
    result = _run(amtool, "check-config", DASHBOARDS / "alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 inhibit rules" in result.stdout


def test_the_watchdog_has_its_own_route_and_a_webhook_receiver_to_the_watchdog_url(tmp_path: Path) -> None:
    """Issue 15: the always-firing graphwiz_watchdog goes to monitoring.watchdog_url every minute, and only there."""
    amtool = require_binary("amtool")
    url = "https://hc-ping.example/0f3a-watchdog"
    settings = parse_settings({"monitoring": {"watchdog_url": url}}, env={})
    config = alertmanager_config(settings)
    route = config["route"]["routes"][0]
    assert route["matchers"] == ['alertname="graphwiz_watchdog"'] and route["receiver"] == "watchdog"
    assert route["repeat_interval"] == "1m" and route.get("continue", False) is False
    assert {"name": "watchdog", "webhook_configs": [{"url": url, "send_resolved": False}]} in config["receivers"]
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = _run(amtool, "check-config", path)
    assert result.returncode == 0 and "2 receivers" in result.stdout, result.stdout + result.stderr
    # The committed file (no URL configured) keeps the route, with a receiver to fill in.
    committed = yaml.safe_load((DASHBOARDS / "alertmanager.yml").read_text())
    assert {"name": "watchdog"} in committed["receivers"] and committed["route"]["routes"][0] == route
