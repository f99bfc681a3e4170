"""Configuration files for the Prometheus/Grafana/Alertmanager side of the docker-compose stack.

Hostnames are the compose service names (``exporter``, ``prometheus``, ``alertmanager``); ports and
intervals come from the settings. ``rule_files`` is relative to prometheus.yml, so the same file
works mounted next to the rules in the container and with ``prometheus --config.file=dashboards/prometheus.yml``.
"""

from __future__ import annotations

from typing import Any

from graphwiz_monitoring.config import InhibitSettings, Settings
from graphwiz_monitoring.dashboards.prometheus_rules import SCRAPE_JOB, WATCHDOG_ALERT, prometheus_duration

RULES_FILE = "prometheus-rules.yml"
DATASOURCE_UID = "graphwiz-prometheus"  # the dashboards' ${datasource} variable defaults to this uid
GRAFANA_DASHBOARDS_PATH = "/var/lib/grafana/dashboards/graphwiz"
EXPORTER_SERVICE = "exporter"
PROMETHEUS_URL = "http://prometheus:9090"
ALERTMANAGER_TARGET = "alertmanager:9093"
# Alertmanager's own defaults (REFERENCE.md); urgent severities repeat sooner while unresolved.
GROUP_WAIT, GROUP_INTERVAL, REPEAT_INTERVAL = "30s", "5m", "4h"
REPEAT_BY_SEVERITY = {"emergency": "15m", "critical": "1h"}
WATCHDOG_RECEIVER = "watchdog"
WATCHDOG_REPEAT = "1m"  # give the outside check a period of a few minutes (its grace time covers a late one)


def prometheus_config(settings: Settings | None = None, exporter_target: str | None = None,
                      alertmanager_target: str = ALERTMANAGER_TARGET) -> dict[str, Any]:
    """prometheus.yml: scrape the exporter every metrics interval, load the rule file, send to Alertmanager."""
    settings = settings or Settings()
    interval = prometheus_duration(settings.monitoring.metrics_interval_seconds)
    target = exporter_target or f"{EXPORTER_SERVICE}:{settings.monitoring.prometheus_port}"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [RULES_FILE],
        # The alertmanager service is optional (compose profile "alertmanager"); without it Prometheus
        # still evaluates the rules and shows them under /alerts.
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_target]}]}]},
        "scrape_configs": [{
            "job_name": SCRAPE_JOB,
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [target]}],
        }],
    }


def _matchers(labels: dict[str, str], rules: list[str] | None = None) -> list[str]:
    out = [f'{k}="{v}"' for k, v in sorted(labels.items())]
    if rules:
        out.append(f'rule=~"{"|".join(rules)}"')
    return out


def _inhibit_rule(inhibit: InhibitSettings) -> dict[str, Any]:
    rule: dict[str, Any] = {"source_matchers": _matchers(inhibit.source),
                            "target_matchers": _matchers(inhibit.target, inhibit.target_rules)}
    if inhibit.equal:
        rule["equal"] = list(inhibit.equal)
    return rule


def _watchdog_route() -> dict[str, Any]:
    """The always-firing watchdog goes to its own receiver at once and again every WATCHDOG_REPEAT, and
    nowhere else (``continue`` false): the outside dead-man's switch alerts when it stops arriving."""
    return {"matchers": [f'alertname="{WATCHDOG_ALERT}"'], "receiver": WATCHDOG_RECEIVER, "group_by": ["alertname"],
            "group_wait": "0s", "group_interval": WATCHDOG_REPEAT, "repeat_interval": WATCHDOG_REPEAT}


def _watchdog_receiver(settings: Settings) -> dict[str, Any]:
    """A webhook to ``monitoring.watchdog_url`` (a check of its own at Healthchecks.io / Uptime Kuma: never the
    heartbeat_url's, or either pinger would hide the other's death); none set: a receiver to fill in."""
    receiver: dict[str, Any] = {"name": WATCHDOG_RECEIVER}
    url = settings.monitoring.watchdog_url
    if url is not None and url.get_secret_value():
        receiver["webhook_configs"] = [{"url": url.get_secret_value(), "send_resolved": False}]
    return receiver


def alertmanager_config(settings: Settings | None = None) -> dict[str, Any]:
    """alertmanager.yml: grouping as Alertmanager's defaults, the app's inhibit rules, one receiver to fill in,
    and the watchdog's own route and receiver (the dead-man's switch of Prometheus and Alertmanager)."""
    settings = settings or Settings()
    return {
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "exchange", "host"],
            "group_wait": GROUP_WAIT,
            "group_interval": GROUP_INTERVAL,
            "repeat_interval": REPEAT_INTERVAL,
            "routes": [_watchdog_route()] + [{"matchers": [f'severity="{severity}"'], "repeat_interval": repeat}
                                             for severity, repeat in REPEAT_BY_SEVERITY.items()],
        },
        # Add slack_configs / webhook_configs / email_configs here (secrets via *_file options).
        "receivers": [{"name": "default"}, _watchdog_receiver(settings)],
        "inhibit_rules": [_inhibit_rule(i) for i in settings.alerts.inhibit if i.source],
    }


def grafana_datasource(settings: Settings | None = None, url: str = PROMETHEUS_URL) -> dict[str, Any]:
    settings = settings or Settings()
    return {"apiVersion": 1, "datasources": [{
        "name": "Prometheus",
        "uid": DATASOURCE_UID,
        "type": "prometheus",
        "access": "proxy",
        "url": url,
        "isDefault": True,
        "editable": False,
        "jsonData": {"timeInterval": prometheus_duration(settings.monitoring.metrics_interval_seconds),
                     "httpMethod": "POST"},
    }]}


def grafana_dashboard_provider() -> dict[str, Any]:
    return {"apiVersion": 1, "providers": [{
        "name": "graphwiz",
        "orgId": 1,
        "folder": "GraphWiz",
        "type": "file",
        "disableDeletion": True,
        "allowUiUpdates": False,  # the files are generated: change the code, not the UI
        "updateIntervalSeconds": 30,
        "options": {"path": GRAFANA_DASHBOARDS_PATH, "foldersFromFilesStructure": False},
    }]}
