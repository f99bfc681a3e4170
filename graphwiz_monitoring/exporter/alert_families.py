"""Prometheus families of the alerting area, read from Redis at scrape time (registered in
exporter/collector.py). Names are used by dashboards/ and the Prometheus rules; keep them in step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import Metric

from graphwiz_monitoring.alerting.outbox import backlog
from graphwiz_monitoring.alerting.records import load_alerts
from graphwiz_monitoring.exporter.exposition import new_family
from graphwiz_monitoring.state import KeySpace, Store


def alert_families(store: Store, keys: KeySpace, settings: Any = None) -> Iterable[Metric]:
    """graphwiz_alert_active, graphwiz_alert_acknowledged, graphwiz_alert_total, graphwiz_notifications_total,
    graphwiz_notifications_undeliverable_total, graphwiz_dead_letters,
    graphwiz_notify_outbox_entries, graphwiz_notify_outbox_oldest_age_seconds."""
    pipe = store.r.pipeline(transaction=False)
    pipe.hgetall(keys.alerts_active)
    pipe.hgetall(keys.alert_counts)
    pipe.hgetall(keys.notification_counts)
    pipe.llen(keys.dead_letters)
    pipe.hgetall(keys.notifications_undeliverable)
    active_ids, created, notified, dead, undeliverable = pipe.execute()
    firing: Counter[tuple[str, str]] = Counter()
    acked: Counter[tuple[str, str]] = Counter()
    for alert in load_alerts(store, keys, list((active_ids or {}).values())):
        if alert is not None:
            firing[(alert.rule_name, alert.severity.value)] += 1
            acked[(alert.rule_name, alert.severity.value)] += alert.acknowledged

    totals = {tuple(k.split("|", 1)): int(v) for k, v in (created or {}).items() if "|" in k}
    active = new_family("graphwiz_alert_active")
    # Every rule/severity ever seen keeps a series (0 when quiet), so dashboards do not show gaps.
    for rule, severity in sorted(set(totals) | set(firing)):
        active.add_metric([rule, severity], firing.get((rule, severity), 0))
    yield active

    acknowledged = new_family("graphwiz_alert_acknowledged")
    for rule, severity in sorted(firing):
        acknowledged.add_metric([rule, severity], acked.get((rule, severity), 0))
    yield acknowledged

    total = new_family("graphwiz_alert_total")
    for (rule, severity), value in sorted(totals.items()):
        total.add_metric([rule, severity], value)
    yield total

    notifications = new_family("graphwiz_notifications_total")
    for key, value in sorted((notified or {}).items()):
        if "|" in key:
            channel, outcome = key.split("|", 1)
            notifications.add_metric([channel, outcome], int(value))
    yield notifications

    lost = new_family("graphwiz_notifications_undeliverable_total")
    for channel, value in sorted((undeliverable or {}).items()):
        lost.add_metric([channel], int(value))
    yield lost

    yield new_family("graphwiz_dead_letters", int(dead or 0))

    entries, age = backlog(store, keys)
    yield new_family("graphwiz_notify_outbox_entries", entries)
    yield new_family("graphwiz_notify_outbox_oldest_age_seconds", age)
