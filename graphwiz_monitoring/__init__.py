"""graphwiz-monitoring: monitoring and alerting for the graphwiz trading bot.

The public API (names from the original description). Attributes load lazily so that
``import graphwiz_monitoring`` stays cheap in the trader and never imports Celery.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "create_monitor": "graphwiz_monitoring.trader.monitor",
    "TradingMonitor": "graphwiz_monitoring.trader.monitor",
    "MetricsCollector": "graphwiz_monitoring.trader.monitor",
    "AlertManager": "graphwiz_monitoring.alerting.manager",
    "AlertRule": "graphwiz_monitoring.alerting.rules",
    "AlertSeverity": "graphwiz_monitoring.alerting.models",
    "AlertChannel": "graphwiz_monitoring.alerting.models",
    "Alert": "graphwiz_monitoring.alerting.models",
    "HealthChecker": "graphwiz_monitoring.health.checker",
    "HealthStatus": "graphwiz_monitoring.health.models",
    "HealthResult": "graphwiz_monitoring.health.models",
    "RecoveryAction": "graphwiz_monitoring.health.models",
    "Settings": "graphwiz_monitoring.config",
    "load_settings": "graphwiz_monitoring.config",
    "GraphwizError": "graphwiz_monitoring.errors",
    "ConfigError": "graphwiz_monitoring.errors",
    "StateError": "graphwiz_monitoring.errors",
    "ValidationError": "graphwiz_monitoring.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'graphwiz_monitoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
