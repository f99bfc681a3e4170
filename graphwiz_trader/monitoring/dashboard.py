"""``graphwiz_trader.monitoring.dashboard``: the original description's import path for dashboards."""

from graphwiz_monitoring.dashboards import DashboardConfig, export_dashboard_to_file

__all__ = ["DashboardConfig", "export_dashboard_to_file"]
