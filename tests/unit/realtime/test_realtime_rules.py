"""Pure rules of the realtime area: access checks, subscription parsing, event parsing, status tables."""

from __future__ import annotations

import asyncio
import json

import pytest

from graphwiz_monitoring.cli.status_view import render_status
from graphwiz_monitoring.events import EventType, make_event, parse_event
from graphwiz_monitoring.realtime import access
from graphwiz_monitoring.realtime.hub import Client, apply_subscription


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True), ("LOCALHOST", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("::", False), ("", False), ("10.0.0.5", False),
    ("monitoring.example", False), ("localhost.evil.example", False),
])
def test_loopback_hosts(host, loopback):
    assert access.is_loopback_host(host) is loopback


@pytest.mark.parametrize("origin, host, allowed, ok", [
    (None, "127.0.0.1:8765", [], True),                                   # not a browser
    ("http://127.0.0.1:8765", "127.0.0.1:8765", [], True),
    ("http://LOCALHOST:8765", "localhost:8765", [], True),
    ("http://example.com", "example.com:80", [], True),                   # default port on either side
    ("https://example.com", "example.com", [], True),
    ("https://example.com", "example.com:80", [], False),                 # scheme's default port is 443
    ("http://127.0.0.1:8766", "127.0.0.1:8765", [], False),
    ("http://evil.example", "127.0.0.1:8765", [], False),
    ("null", "127.0.0.1:8765", [], False),
    ("file://", "127.0.0.1:8765", [], False),
    ("http://evil.example", None, [], False),
    ("https://ops.example.com", "127.0.0.1:8765", ["https://ops.example.com/"], True),
    ("https://ops.example.com.evil", "127.0.0.1:8765", ["https://ops.example.com"], False),
])
def test_origin_rule(origin, host, allowed, ok):
    assert access.origin_ok(origin, host, allowed) is ok


def test_host_rule_holds_with_a_token_too():
    """Finding 8 (issue 11): the token no longer waives the Host check; allowed_hosts and the bind host pass."""
    from graphwiz_monitoring.config import parse_settings

    for token in (None, "t"):
        ws = parse_settings({"websocket": {"host": "0.0.0.0", "token": "t", "allowed_hosts": ["status.example"]}}
                            if token else {}, env={}).websocket
        hosts = access.host_allow_list(ws)
        assert hosts.allows("evil.example:8765") is False
        assert hosts.allows("127.0.0.1:8765") is True and hosts.allows("[::1]:8765") is True
        assert hosts.allows(None) is False
        assert hosts.allows("status.example:443") is bool(token)


def test_presented_token_and_constant_time_match():
    assert access.presented_token("/ws?token=abc", None) == "abc"
    assert access.presented_token("/ws", "Bearer xyz") == "xyz"
    assert access.presented_token("/ws?token=abc", "bearer xyz") == "xyz"  # the header wins
    assert access.presented_token("/ws", "Basic xyz") is None
    assert access.token_ok(None, None) is True
    assert access.token_ok("abc", "abc") is True
    assert access.token_ok("abc", "abd") is False and access.token_ok("abc", None) is False


def test_subscription_messages():
    client = Client(ws=None, queue=asyncio.Queue(1))  # type: ignore[arg-type]
    reply = json.loads(apply_subscription(client, json.dumps({"subscribe": ["trade", "alert"]})))
    assert reply["type"] == "subscribed" and reply["data"]["types"] == ["alert", "trade"]
    assert client.wants("alert") and not client.wants("health")
    for bad in ("nope", "[]", "{}", json.dumps({"subscribe": ["alert", "x" * 500]}), json.dumps({"subscribe": 1})):
        reply = json.loads(apply_subscription(client, bad))
        assert reply["type"] == "error" and len(reply["data"]["error"]) < 300
    assert client.types == frozenset({"alert", "trade"})  # a bad message changes nothing
    assert json.loads(apply_subscription(client, json.dumps({"subscribe": None})))["data"]["types"] == "*"
    assert client.wants("health")


def test_parse_event_accepts_only_well_formed_events():
    good = make_event(EventType.HEALTH, {"check": "disk_space"})
    assert parse_event(json.dumps(good)) == good
    for bad in ("x", "[]", json.dumps({**good, "type": "snapshot"}), json.dumps({**good, "data": []}),
                json.dumps({"type": "alert", "data": {}}), b"\xff"):
        assert parse_event(bad) is None


def test_status_tables_stay_readable():
    text = render_status({"unavailable": {"health": "health area is down"}, "alerts": [], "queues": {"ingest": 3},
                          "dead_letters": 0, "trading": {"paused": False}, "breakers": {}, "generated_at": 0,
                          "notify_outbox": {"entries": 2, "oldest_age_seconds": 75.5}})
    assert "Health checks\n  unavailable: health area is down" in text
    assert "notification outbox  2 waiting, oldest 75.5 s" in text
    assert "Active alerts\n  (none)" in text and "  ingest  3" in text
    text = render_status({"unavailable": {}, "queues": {"ingest": 3, "rules": 0}, "generated_at": 0, "pipeline": {
        "beat_age_seconds": 1.25, "beat_holder": "h1:42", "rules_age_seconds": None, "heartbeat_age_seconds": 30.0,
        "redis_memory_percent": 81.4, "queues": {"ingest": {"length": 3, "consumers": 0}}}})
    assert "  beat          ticked 1.2 s ago (h1:42)" in text and "  rules         never evaluated" in text
    assert "  heartbeat     pinged 30.0 s ago" in text and "  redis memory  81 % of maxmemory" in text
    assert "Queues (messages waiting / live consumers)\n  ingest  3 / 0  rules  0" in text  # consumers: when known
