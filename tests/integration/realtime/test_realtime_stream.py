"""The realtime WebSocket stream against a real Redis: snapshot, event latency, filters, bad input, slow clients."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from websockets.sync.client import ClientConnection, connect

from graphwiz_monitoring.events import EventType, publish
from graphwiz_monitoring.realtime.sources import SECTIONS
from tests.conftest import wait_until
from tests.fakes.realtime_harness import http_json, raw_websocket, socket_closed_by_peer

ARRIVAL_LIMIT_SECONDS = 1.0


def recv_json(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))


def recv_until(ws: ClientConnection, predicate, timeout: float = 5) -> dict[str, Any]:
    """The first message matching ``predicate`` (the server also pushes its own metrics messages)."""
    deadline = time.monotonic() + timeout
    while True:
        message = recv_json(ws, timeout=max(0.01, deadline - time.monotonic()))
        if predicate(message):
            return message


def marked(marker: str):
    return lambda m: isinstance(m.get("data"), dict) and m["data"].get("marker") == marker


def test_snapshot_first_then_every_event_type_within_a_second(realtime, store, keys):
    server = realtime()
    with connect(server.ws_url) as ws:
        first = recv_json(ws)
        assert first["type"] == "snapshot"
        snapshot = first["data"]
        for section in SECTIONS:  # every section is either there or says why not
            assert section in snapshot
            assert snapshot[section] is not None or section in snapshot["unavailable"], section
        assert isinstance(snapshot["equity"], list)

        for event_type in EventType:
            marker = uuid.uuid4().hex
            started = time.monotonic()
            publish(store, keys, event_type, {"marker": marker, "kind": event_type.value})
            message = recv_until(ws, marked(marker), timeout=5)
            elapsed = time.monotonic() - started
            assert elapsed < ARRIVAL_LIMIT_SECONDS, f"{event_type.value} took {elapsed:.3f}s"
            assert message["type"] == event_type.value
            assert message["data"] == {"marker": marker, "kind": event_type.value}
            stamp = datetime.fromisoformat(message["timestamp"])
            assert stamp.utcoffset() == timedelta(0)


def test_subscription_filter_limits_what_a_client_receives(realtime, store, keys):
    server = realtime()
    with connect(server.ws_url) as ws:
        assert recv_json(ws)["type"] == "snapshot"
        ws.send(json.dumps({"subscribe": ["alert", "health"]}))
        reply = recv_until(ws, lambda m: m["type"] != "metrics")  # the server's own pushes may come first
        assert reply == {"type": "subscribed", "data": {"types": ["alert", "health"]}, "timestamp": reply["timestamp"]}
        skipped, wanted = uuid.uuid4().hex, uuid.uuid4().hex
        publish(store, keys, EventType.TRADE, {"marker": skipped})
        publish(store, keys, EventType.METRICS, {"marker": skipped})
        publish(store, keys, EventType.HEALTH, {"marker": wanted})
        message = recv_json(ws)  # replies and events share one queue: nothing filtered out comes after the reply
        assert (message["type"], message["data"]["marker"]) == ("health", wanted)

        ws.send(json.dumps({"subscribe": "*"}))
        assert recv_until(ws, lambda m: m["type"] == "subscribed")["data"] == {"types": "*"}
        again = uuid.uuid4().hex
        publish(store, keys, EventType.TRADE, {"marker": again})
        assert recv_until(ws, marked(again))["type"] == "trade"


def test_bad_client_messages_get_an_error_and_the_server_keeps_serving(realtime, store, keys):
    server = realtime()
    bad_messages: list[str | bytes] = [
        "not json", "[1, 2]", '"subscribe"', json.dumps({"subscribe": ["alert", "nope"]}),
        json.dumps({"subscribe": 5}), json.dumps({"subscribe": ["alert"], "extra": 1}), b"\x00\xff binary",
        json.dumps({"subscribe": [1, 2]}), "{" * 5000,
    ]
    with connect(server.ws_url) as ws, connect(server.ws_url) as bystander:
        assert recv_json(ws)["type"] == "snapshot"
        assert recv_json(bystander)["type"] == "snapshot"
        for bad in bad_messages:
            ws.send(bad)
            reply = recv_until(ws, lambda m: m["type"] in ("error", "subscribed"))
            assert reply["type"] == "error", bad
            assert isinstance(reply["data"]["error"], str) and reply["data"]["error"]
        marker = uuid.uuid4().hex
        publish(store, keys, EventType.ALERT, {"marker": marker})
        assert recv_until(ws, marked(marker))["type"] == "alert"  # the same connection still works
        assert recv_until(bystander, marked(marker))["type"] == "alert"
    status, health = http_json(server.port, "GET", "/healthz")
    assert status == 200 and health["status"] == "ok"


def test_stalled_client_is_disconnected_and_does_not_delay_others(realtime, store, keys):
    server = realtime(client_queue_size=4)
    stalled, status = raw_websocket(server.port, rcvbuf=4096)  # handshake done, never reads again
    assert status == 101
    try:
        with connect(server.ws_url) as ws:
            assert recv_json(ws)["type"] == "snapshot"
            wait_until(lambda: server.call(lambda: len(server.server.hub.clients)) == 2, timeout=5,
                       message="both clients registered")
            padding = "x" * 100_000  # fills the stalled socket's buffers after a few messages
            worst = 0.0
            for i in range(40):
                marker = f"{i}-{uuid.uuid4().hex}"
                started = time.monotonic()
                publish(store, keys, EventType.METRICS, {"marker": marker, "padding": padding})
                recv_until(ws, marked(marker), timeout=5)
                worst = max(worst, time.monotonic() - started)
            assert worst < ARRIVAL_LIMIT_SECONDS, f"a healthy client waited {worst:.3f}s"
            stats = server.call(server.server.hub.stats)
            assert stats["evicted_total"] == 1 and stats["clients"] == 1, stats
            assert socket_closed_by_peer(stalled, timeout=5), "the stalled client was not disconnected"
    finally:
        stalled.close()


def test_redis_restart_is_survived_and_clients_get_a_fresh_snapshot(realtime, redis_server, store, keys):
    server = realtime()
    with connect(server.ws_url) as ws:
        assert recv_json(ws)["type"] == "snapshot"
        redis_server.restart()
        # After resubscribing the server resends a snapshot: anything missed meanwhile is covered.
        assert recv_until(ws, lambda m: m["type"] == "snapshot", timeout=10)["type"] == "snapshot"
        marker = uuid.uuid4().hex
        publish(store, keys, EventType.BREAKER, {"marker": marker})
        assert recv_until(ws, marked(marker))["type"] == "breaker"
