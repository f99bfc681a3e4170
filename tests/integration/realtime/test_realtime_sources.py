"""The realtime server with the other areas' real state: alerts, health, breakers, recovery, trading pause."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.alerting.silences import list_silences
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.events import EventType, publish
from graphwiz_monitoring.guards.breaker import CircuitBreaker
from graphwiz_monitoring.health.checker import HealthChecker
from graphwiz_monitoring.health.pause import set_trading_paused
from graphwiz_monitoring.health.recovery import RecoveryRunner
from graphwiz_monitoring.metrics.ingest import ingest_batch
from tests.conftest import free_port, wait_until
from tests.fakes.realtime_harness import ServerThread, http_json

BREACH = {"trading": {"current_drawdown": 0.2}}  # large_loss fires above 10 %


def recv_until(ws: ClientConnection, predicate, timeout: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if predicate(message):
            return message


def manager(store, keys, settings) -> AlertManager:
    return AlertManager(store, keys, settings, dispatch=lambda *args: None)  # no notification queues here


def open_breaker(store, keys, settings, name: str) -> None:
    breaker = CircuitBreaker(store, keys, name, settings.circuit_breakers)
    for _ in range(settings.circuit_breakers.failure_threshold):
        breaker.record_failure("refused", breaker.allow())


def test_snapshot_carries_every_area_state(realtime, redis_url, store, keys):
    settings = parse_settings({"redis": {"url": redis_url}, "recovery": {"dry_run": True}}, env={})
    alert = manager(store, keys, settings).check_alert("large_loss", BREACH)
    assert alert is not None
    open_breaker(store, keys, settings, "exchange_connectivity")
    set_trading_paused(store, keys, True, reason="portfolio breach", by="test")
    RecoveryRunner(settings, store, keys).run("portfolio_health", "rec-1", {})

    server = realtime()
    with connect(server.ws_url) as ws:
        snapshot = json.loads(ws.recv(timeout=5))["data"]
    assert snapshot["unavailable"] == {}, snapshot["unavailable"]
    assert snapshot["metrics"]["trading"]["total_trades"] == 0
    assert [a["alert_id"] for a in snapshot["alerts"]] == [alert.alert_id]
    assert snapshot["alerts"][0]["rule_name"] == "large_loss"
    assert snapshot["breakers"]["exchange_connectivity"]["state"] == "open"
    assert snapshot["trading"]["paused"] is True and snapshot["trading"]["reason"] == "portfolio breach"
    assert {(a["action"], a["outcome"]) for a in snapshot["recovery"]} >= {("pause_trading", "dry_run")}
    assert set(snapshot["health"]["checks"]) == set(settings.health_checks.checks)
    assert snapshot["trades"] == []
    # The alert's value now, from its rule's condition over the current metrics (no trade: no drawdown yet).
    assert snapshot["alert_values"] == {}


def test_real_state_changes_reach_clients_within_a_second(realtime, settings, store, keys):
    server = realtime()
    with connect(server.ws_url) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"

        started = time.monotonic()
        alert = manager(store, keys, settings).check_alert("large_loss", BREACH)
        assert alert is not None
        message = recv_until(ws, lambda m: m["type"] == "alert" and m["data"].get("alert_id") == alert.alert_id)
        assert time.monotonic() - started < 1.0
        assert message["data"]["event"] == "firing"

        started = time.monotonic()
        open_breaker(store, keys, settings, "neo4j_connectivity")
        message = recv_until(ws, lambda m: m["type"] == "breaker" and m["data"].get("name") == "neo4j_connectivity")
        assert time.monotonic() - started < 1.0 and message["data"]["state"] == "open"

        started = time.monotonic()
        HealthChecker(settings, store, keys).check_now("disk_space")  # a real check of this host's disks
        message = recv_until(ws, lambda m: m["type"] == "health" and m["data"].get("check") == "disk_space")
        assert time.monotonic() - started < 1.0 and message["data"]["status"] in ("healthy", "degraded",
                                                                                  "unhealthy", "critical")

        started = time.monotonic()
        manager(store, keys, settings).resolve_alert("large_loss")
        message = recv_until(ws, lambda m: m["type"] == "alert" and m["data"].get("event") == "resolved")
        assert time.monotonic() - started < 1.0 and message["data"]["alert_id"] == alert.alert_id


def test_silence_endpoint_creates_a_silence_through_the_alerting_area(realtime, settings, store, keys):
    alert = manager(store, keys, settings).check_alert("large_loss", BREACH)
    assert alert is not None
    server = realtime()
    status, body = http_json(server.port, "POST", f"/api/silences?alert_id={alert.alert_id}&duration_seconds=600")
    assert status == 201, body
    assert body["matchers"] == {"rule": "large_loss"} and body["author"] == "status-page"
    assert 590 <= body["ends_at"] - time.time() <= 600
    assert [s.id for s in list_silences(store, keys)] == [body["id"]]
    assert http_json(server.port, "POST", "/api/silences?alert_id=no-such-alert")[0] == 404


def test_pausing_trading_from_anywhere_resends_the_snapshot(realtime, store, keys):
    server = realtime(metrics_push_seconds=0.2)
    with connect(server.ws_url) as ws:
        first = json.loads(ws.recv(timeout=5))
        assert first["data"]["trading"]["paused"] is False
        time.sleep(0.3)  # let the server see the flag once before it changes
        started = time.monotonic()
        set_trading_paused(store, keys, True, reason="manual", by="cli")
        again = recv_until(ws, lambda m: m["type"] == "snapshot", timeout=5)
        assert again["data"]["trading"]["paused"] is True
        assert time.monotonic() - started < 1.5


def test_ingested_trades_move_the_live_pnl_within_a_second(realtime, settings, store, keys):
    server = realtime()
    with connect(server.ws_url) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"
        ws.send(json.dumps({"subscribe": ["metrics"]}))
        recv_until(ws, lambda m: m["type"] == "subscribed")
        started = time.monotonic()
        result = ingest_batch(store, keys, settings, {"batch_id": "b-1", "records": [
            {"kind": "trade", "data": {"symbol": "BTC/USDT", "side": "buy", "price": 50000, "quantity": 0.1,
                                       "pnl": 150.5, "success": True}},
            {"kind": "trade", "data": {"symbol": "ETH/USDT", "side": "sell", "price": 3000, "quantity": 1,
                                       "pnl": -20.25, "success": True}},
        ]})
        assert result.new_trades == 2
        publish(store, keys, EventType.TRADE, result.summary())  # what the ingest worker announces
        message = recv_until(ws, lambda m: m["type"] == "metrics" and (m["data"].get("trading") or {}).get(
            "total_trades") == 2)
        assert time.monotonic() - started < 1.0
        assert message["data"]["trading"]["pnl_usd"] == 130.25
        # The same push carries the recent trades (newest first), read from the trade stream.
        assert [t["symbol"] for t in message["data"]["recent_trades"]] == ["ETH/USDT", "BTC/USDT"]
        assert message["data"]["recent_trades"][0]["pnl"] == -20.25
        equity = server.call(lambda: list(server.server.equity))
        assert equity and equity[-1][1] == 130.25  # kept for the sparkline of clients that connect later


def test_alert_cards_get_the_value_now_and_at_most_20_recent_trades(redis_url, store, keys):
    settings = parse_settings({"redis": {"url": redis_url}, "websocket": {"port": free_port()},
                               "monitoring": {"initial_capital_usd": 1000}}, env={})
    trades = [{"kind": "trade", "data": {"symbol": "BTC/USDT", "side": "buy", "price": 100, "quantity": 1,
                                         "pnl": pnl, "trade_id": f"t{i}"}} for i, pnl in enumerate([100.0] + [-9.0] * 24)]
    ingest_batch(store, keys, settings, {"batch_id": "many", "records": trades})  # peak 1100, now 884
    alert = manager(store, keys, settings).check_alert("large_loss", BREACH)
    assert alert is not None and alert.metadata["value"] == 0.2
    server = ServerThread(settings, store, keys).start()
    try:
        with connect(server.ws_url) as ws:
            snapshot = json.loads(ws.recv(timeout=5))["data"]
    finally:
        server.stop()
    assert [t["trade_id"] for t in snapshot["trades"]] == [f"t{i}" for i in range(24, 4, -1)]  # the newest 20
    assert snapshot["alert_values"] == {alert.alert_id: pytest.approx(216 / 1100)}  # now, beside 0.2 at the breach


def test_equity_curve_starts_with_the_last_hour_of_trades(realtime, settings, store, keys):
    now = time.time()
    trades = [{"kind": "trade", "data": {"symbol": "BTC/USDT", "side": "sell", "price": 100.0, "quantity": 1.0,
                                         "pnl": pnl, "timestamp": now - age}}
              for pnl, age in ((10.0, 3000), (-4.0, 2000), (20.0, 1000), (5.0, 7200))]  # the last is too old
    assert ingest_batch(store, keys, settings, {"batch_id": "hist", "records": trades}).new_trades == 4
    server = realtime()
    wait_until(lambda: len(server.call(lambda: list(server.server.equity))) >= 4, timeout=5,
               message="the equity backfill")
    with connect(server.ws_url) as ws:
        equity = json.loads(ws.recv(timeout=5))["data"]["equity"]
    times = [t for t, _ in equity]
    assert times == sorted(times)
    # Shifted to end at today's total (31): 5 (older than an hour) + 10, then -4, then +20.
    assert [v for _, v in equity[:3]] == [15.0, 11.0, 31.0]
    assert equity[-1][1] == 31.0
