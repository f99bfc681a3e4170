"""Stale data is not a fact (issue 13 item 3) against a real Redis: a trader's exchange report fires
``exchange_disconnect``; once the trader is silent for ``health_checks.trader_stale_seconds`` (judged on the
Redis clock from the ``received_at`` ingest stamps) the episode ends as ``stale`` with one notice,
``trader_down`` fires for it, later evaluations send nothing on its data, and fresh data opens a new episode.
"""

from __future__ import annotations

import json

from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.alerting.models import AlertState
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.metrics.ingest import ingest_batch
from graphwiz_monitoring.metrics.snapshot import build_snapshot
from tests.conftest import wait_until
from tests.integration.alerting.conftest import Recorder

STALE = 0.5


def _feed(store, keys, settings, trader: str, connected: bool, n: list[int] = [0]) -> None:  # noqa: B006
    n[0] += 1
    batch = {"batch_id": f"{trader}-{n[0]}", "trader": trader,
             "records": [{"kind": "exchange_status", "data": {"exchange": "kraken", "connected": connected}}]}
    assert not ingest_batch(store, keys, settings, batch).rejected


def test_a_silent_trader_ends_its_alerts_as_stale_and_trader_down_fires(redis_url, store, keys) -> None:
    settings = parse_settings({"redis": {"url": redis_url}, "health_checks": {"trader_stale_seconds": STALE},
                               "alerts": {"rules": {n: {"channels": ["log"]}
                                                    for n in ("exchange_disconnect", "trader_down")}}}, env={})
    recorder = Recorder(store, keys)
    manager = AlertManager(store, keys, settings, dispatch=recorder)

    _feed(store, keys, settings, "alpha", connected=False)
    snapshot = build_snapshot(store, keys, settings)
    assert snapshot["traders"]["alpha"]["stale"] is False
    assert snapshot["traders"]["alpha"]["age_seconds"] < STALE
    first = manager.evaluate(snapshot)
    (alert,) = [a for a in first.created if a.rule_name == "exchange_disconnect"]
    assert not [a for a in first.created if a.rule_name == "trader_down"]

    snapshot = wait_until(lambda: (s := build_snapshot(store, keys, settings))["traders"]["alpha"]["stale"] and s,
                          timeout=5, interval=0.05, message="alpha stale")
    assert snapshot["traders"]["alpha"]["age_seconds"] > STALE
    result = manager.evaluate(snapshot)
    assert [a.alert_id for a in result.stale] == [alert.alert_id]
    assert not result.resolved and not result.repeated
    (down,) = result.created
    assert down.rule_name == "trader_down" and down.labels == {"trader": "alpha"}
    assert down.severity.value == "critical"
    record = json.loads(store.r.get(keys.alert(alert.alert_id)))
    assert record["state"] == AlertState.STALE.value
    assert alert.alert_id not in store.r.hvals(keys.alerts_active)
    assert {a.alert_id for a in manager.get_active_alerts()} == {down.alert_id}
    assert recorder.of("stale") == [(alert.alert_id, "log")]
    assert any(a.alert_id == alert.alert_id and a.state is AlertState.STALE for a in manager.get_alert_history())

    # later evaluations on the dead trader's last report: nothing more about it
    for _ in range(3):
        again = manager.evaluate(build_snapshot(store, keys, settings))
        assert not again.created and not again.stale and not again.resolved
    assert [k for a, _, k in recorder.calls if a == alert.alert_id] == ["firing", "stale"]

    # the trader is back and still reports kraken down: a new episode; trader_down resolves
    _feed(store, keys, settings, "alpha", connected=False)
    back = manager.evaluate(build_snapshot(store, keys, settings))
    (fresh,) = back.created
    assert fresh.rule_name == "exchange_disconnect" and fresh.alert_id != alert.alert_id
    assert [a.alert_id for a in back.resolved] == [down.alert_id]


def test_one_fresh_trader_keeps_the_rules_on_its_data_firing(redis_url, store, keys) -> None:
    settings = parse_settings({"redis": {"url": redis_url}, "health_checks": {"trader_stale_seconds": STALE}},
                              env={})
    manager = AlertManager(store, keys, settings, dispatch=Recorder(store, keys))
    _feed(store, keys, settings, "alpha", connected=False)
    _feed(store, keys, settings, "beta", connected=False)
    (alert,) = [a for a in manager.evaluate(build_snapshot(store, keys, settings)).created]
    wait_until(lambda: build_snapshot(store, keys, settings)["traders"]["alpha"]["stale"], timeout=5,
               interval=0.05, message="alpha stale")
    _feed(store, keys, settings, "beta", connected=False)  # beta still reports
    result = manager.evaluate(build_snapshot(store, keys, settings))
    assert not result.stale and alert.alert_id in store.r.hvals(keys.alerts_active)
    assert [a.labels for a in result.created] == [{"trader": "alpha"}]  # alpha is down all the same


def test_custom_rules_of_a_trader_gone_silent_without_stop_end_as_stale(redis_url, store, keys) -> None:
    """A trader killed without ``stop()``: the workers know (``register_custom_rules``) which custom rules it
    evaluated, and end their episodes as ``stale`` once it is, instead of leaving them active forever."""
    from graphwiz_monitoring import AlertRule

    settings = parse_settings({"redis": {"url": redis_url}, "health_checks": {"trader_stale_seconds": STALE}},
                              env={})
    trader_side = AlertManager(store, keys, settings, dispatch=Recorder(store, keys))
    trader_side.custom_rules["always"] = AlertRule(name="always", condition=lambda m: True, channels=["log"])
    _feed(store, keys, settings, "alpha", connected=True)
    (alert,) = trader_side.evaluate_custom(build_snapshot(store, keys, settings)).created
    trader_side.register_custom_rules("alpha")  # what the trader's CustomRuleLoop does each round

    recorder = Recorder(store, keys)
    worker = AlertManager(store, keys, settings, dispatch=recorder)  # knows nothing of "always"
    fresh = worker.evaluate(build_snapshot(store, keys, settings))
    assert not fresh.stale and alert.alert_id in store.r.hvals(keys.alerts_active)

    snapshot = wait_until(lambda: (s := build_snapshot(store, keys, settings))["traders"]["alpha"]["stale"] and s,
                          timeout=5, interval=0.05, message="alpha stale")
    result = worker.evaluate(snapshot)
    assert [a.alert_id for a in result.stale] == [alert.alert_id]
    assert alert.alert_id not in store.r.hvals(keys.alerts_active)
    assert recorder.of("stale") == [(alert.alert_id, "log")]
    assert not worker.evaluate(snapshot).stale  # once


def test_an_exchange_only_a_stale_trader_reported_ends_stale_while_another_trader_reports(
        redis_url, store, keys) -> None:
    """Several traders: alpha alone reported kraken down and went silent, beta goes on reporting binance;
    kraken's episode ends as stale (alpha's last report is no fact), binance's rules go on."""
    settings = parse_settings({"redis": {"url": redis_url}, "health_checks": {"trader_stale_seconds": STALE}},
                              env={})
    recorder = Recorder(store, keys)
    manager = AlertManager(store, keys, settings, dispatch=recorder)
    _feed(store, keys, settings, "alpha", connected=False)  # kraken
    n = [0]

    def beta(connected: bool) -> None:
        n[0] += 1
        batch = {"batch_id": f"beta-binance-{n[0]}", "trader": "beta", "records": [
            {"kind": "exchange_status", "data": {"exchange": "binance", "connected": connected}}]}
        assert not ingest_batch(store, keys, settings, batch).rejected

    beta(False)
    created = manager.evaluate(build_snapshot(store, keys, settings)).created
    by_exchange = {a.labels.get("exchange"): a for a in created if a.rule_name == "exchange_disconnect"}
    assert set(by_exchange) == {"kraken", "binance"}

    def alpha_stale_beta_fresh():
        beta(False)
        s = build_snapshot(store, keys, settings)
        return s if s["traders"]["alpha"]["stale"] and not s["traders"]["beta"]["stale"] else None

    snapshot = wait_until(alpha_stale_beta_fresh, timeout=5, interval=0.05, message="alpha stale, beta fresh")
    result = manager.evaluate(snapshot)
    assert [a.alert_id for a in result.stale] == [by_exchange["kraken"].alert_id]
    assert by_exchange["binance"].alert_id in store.r.hvals(keys.alerts_active)
    assert by_exchange["kraken"].alert_id not in store.r.hvals(keys.alerts_active)
    again = manager.evaluate(snapshot)
    assert not again.stale and not [a for a in again.created if a.rule_name == "exchange_disconnect"]


def test_a_host_that_stopped_reporting_ends_its_alerts_as_stale_not_resolved(make_manager) -> None:
    """A host silent for ``retention.host_stale_seconds`` leaves ``system.hosts``: its high_cpu episode ends
    as ``stale`` (its CPU did not come down, its reports stopped); a host whose CPU comes down resolves."""
    manager, recorder = make_manager(alerts={"rules": {"high_cpu": {"channels": ["log"]}}})

    def snap(hosts: dict) -> dict:
        return {"system": {"hosts": {h: {"cpu_percent": c, "memory_percent": 1, "disks": {}} for h, c in hosts.items()}}}

    created = manager.evaluate(snap({"h1": 95, "h2": 96})).created
    ids = {a.labels["host"]: a.alert_id for a in created}
    assert set(ids) == {"h1", "h2"}
    result = manager.evaluate(snap({"h2": 10}))  # h1 silent (dropped), h2 recovered
    assert [a.alert_id for a in result.stale] == [ids["h1"]]
    assert [a.alert_id for a in result.resolved] == [ids["h2"]]
    assert recorder.of("stale") == [(ids["h1"], "log")]
    assert not manager.evaluate(snap({"h2": 10})).stale
