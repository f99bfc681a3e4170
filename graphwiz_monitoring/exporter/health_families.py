"""Prometheus families of the health area, read from Redis at scrape time (registered in
exporter/collector.py). Names are used by dashboards/ and the Prometheus rules; keep them in step.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import Metric

from graphwiz_monitoring.exporter.exposition import new_family
from graphwiz_monitoring.guards.breaker import BreakerState
from graphwiz_monitoring.health.models import HealthStatus
from graphwiz_monitoring.state import KeySpace, Store


def _rank(result: dict[str, Any]) -> int:
    """0 healthy .. 3 critical, -1 not judged; an open circuit keeps the judgement that opened it."""
    try:
        status = HealthStatus(result.get("status"))
        if status is HealthStatus.CIRCUIT_OPEN and (result.get("details") or {}).get("judged_status"):
            status = HealthStatus(result["details"]["judged_status"])
    except ValueError:
        return -1
    return status.severity_rank


def health_families(store: Store, keys: KeySpace, settings: Any = None) -> Iterable[Metric]:
    """graphwiz_health_*, graphwiz_circuit_breaker_*, graphwiz_recovery_actions_total, graphwiz_trading_paused."""
    pipe = store.r.pipeline(transaction=False)
    pipe.hgetall(keys.health_latest)
    pipe.smembers(keys.breakers)
    pipe.hgetall(keys.recovery_counts)
    pipe.hget(keys.trading_paused, "paused")
    latest, breaker_names, counts, paused = pipe.execute()
    names = sorted(breaker_names or ())
    pipe = store.r.pipeline(transaction=False)
    for name in names:
        pipe.hmget(keys.breaker(name), "state", "failures")
    breakers = dict(zip(names, pipe.execute(), strict=True)) if names else {}

    status = new_family("graphwiz_health_status")
    last_run = new_family("graphwiz_health_check_last_run_timestamp_seconds")
    for check, raw in sorted((latest or {}).items()):
        try:
            result = json.loads(raw)
        except ValueError:
            continue
        status.add_metric([check], _rank(result))
        last_run.add_metric([check], float(result.get("timestamp") or 0))

    state = new_family("graphwiz_circuit_breaker_state")
    failures = new_family("graphwiz_circuit_breaker_failures")
    for name, (raw_state, raw_failures) in breakers.items():
        try:
            gauge = BreakerState(raw_state or "closed").gauge
        except ValueError:
            continue
        state.add_metric([name], gauge)
        failures.add_metric([name], float(raw_failures or 0))

    actions = new_family("graphwiz_recovery_actions_total")
    for fld, value in sorted((counts or {}).items()):
        action, _, outcome = fld.partition("|")
        actions.add_metric([action, outcome], float(value))

    paused_gauge = new_family("graphwiz_trading_paused")
    paused_gauge.add_metric([], 1.0 if paused == "1" else 0.0)
    return [status, last_run, state, failures, actions, paused_gauge]
