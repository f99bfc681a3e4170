"""The alerting Prometheus families, read from Redis at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from graphwiz_monitoring.exporter.alert_families import alert_families
from graphwiz_monitoring.state.dead_letters import add_dead_letter


class _Collector:
    def __init__(self, store, keys) -> None:
        self.store, self.keys = store, keys

    def collect(self):
        return alert_families(self.store, self.keys)


def scrape(store, keys) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    registry.register(_Collector(store, keys))
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_alert_families(make_manager, store, keys) -> None:
    assert scrape(store, keys)[("graphwiz_dead_letters", ())] == 0
    manager, _ = make_manager()
    snap = {"exchanges": {"binance": {"connected": False}, "kraken": {"connected": False}}, "risk": {"leverage": 5}}
    manager.evaluate(snap)
    store.r.hincrby(keys.notification_counts, "log|sent", 3)
    add_dead_letter(store, keys, "notification", {"alert_id": "x", "channel": "slack", "kind": "firing"}, "gave up")
    samples = scrape(store, keys)
    assert samples[("graphwiz_alert_active", (("rule", "exchange_disconnect"), ("severity", "critical")))] == 2
    assert samples[("graphwiz_alert_active", (("rule", "risk_limit_breach"), ("severity", "emergency")))] == 1
    assert samples[("graphwiz_alert_total", (("rule", "exchange_disconnect"), ("severity", "critical")))] == 2
    assert samples[("graphwiz_notifications_total", (("channel", "log"), ("outcome", "sent")))] == 3
    assert samples[("graphwiz_dead_letters", ())] == 1
    assert samples[("graphwiz_alert_acknowledged", (("rule", "exchange_disconnect"), ("severity", "critical")))] == 0
    manager.acknowledge_alert(manager.get_active_alerts()[0].alert_id, "alice")
    acked = scrape(store, keys)
    assert sum(v for (name, _), v in acked.items() if name == "graphwiz_alert_acknowledged") == 1
    manager.evaluate({"exchanges": {"binance": {"connected": True}, "kraken": {"connected": True}},
                      "risk": {"leverage": 1}})
    samples = scrape(store, keys)
    assert samples[("graphwiz_alert_active", (("rule", "exchange_disconnect"), ("severity", "critical")))] == 0
    assert samples[("graphwiz_alert_total", (("rule", "exchange_disconnect"), ("severity", "critical")))] == 2
