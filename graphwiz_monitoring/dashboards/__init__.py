"""Grafana dashboards and the Prometheus rule file, generated from code.

Original API kept: ``DashboardConfig.get_default_dashboard()``, ``DashboardConfig.get_alerts_dashboard()``
(Grafana JSON models as dicts) and ``export_dashboard_to_file(dashboard, path)``.
"""

from __future__ import annotations

from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.dashboards.export import (
    builtin_dashboards,
    export_all,
    export_dashboard_to_file,
    export_rules,
    rendered_files,
)
from graphwiz_monitoring.dashboards.model import Dashboard, Panel, Row, Target, Variable
from graphwiz_monitoring.dashboards.operations import alerts_dashboard, health_dashboard, queues_dashboard
from graphwiz_monitoring.dashboards.prometheus_rules import prometheus_rule_file
from graphwiz_monitoring.dashboards.trading import trading_dashboard


class DashboardConfig:
    """The built-in dashboards as Grafana JSON models (thresholds from ``settings``, defaults if None)."""

    @staticmethod
    def get_default_dashboard(settings: Settings | None = None) -> dict[str, Any]:
        return trading_dashboard(settings).to_dict()

    @staticmethod
    def get_alerts_dashboard(settings: Settings | None = None) -> dict[str, Any]:
        return alerts_dashboard(settings).to_dict()

    @staticmethod
    def get_health_dashboard(settings: Settings | None = None) -> dict[str, Any]:
        return health_dashboard(settings).to_dict()

    @staticmethod
    def get_queues_dashboard(settings: Settings | None = None) -> dict[str, Any]:
        return queues_dashboard(settings).to_dict()


__all__ = [
    "Dashboard", "DashboardConfig", "Panel", "Row", "Target", "Variable", "builtin_dashboards", "export_all",
    "export_dashboard_to_file", "export_rules", "prometheus_rule_file", "rendered_files",
]
