"""Finding 8 (issue 11): the Host/Origin rules every HTTP server of ours applies (http_access.py)."""

from __future__ import annotations

import pytest

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import ConfigError
from graphwiz_monitoring.http_access import HostAllowList, refusal

DEFAULT = HostAllowList.for_server((), "0.0.0.0")
COMPOSE = HostAllowList.for_server(["exporter", "scrape.example:9100"], "0.0.0.0")


@pytest.mark.parametrize("host, default, compose", [
    ("127.0.0.1:8000", True, True), ("localhost:8000", True, True), ("LocalHost.", True, True),
    ("[::1]:8000", True, True), ("192.0.2.10:8000", True, True), ("[2001:db8::1]", True, True),
    ("exporter:8000", False, True), ("EXPORTER", False, True), ("exporter.", False, True),
    ("scrape.example:9100", False, True), ("scrape.example:9101", False, False), ("scrape.example", False, False),
    ("evil.example:8000", False, False), ("exporter.evil.example", False, False), ("localhost.evil", False, False),
    ("0.0.0.0.evil.example", False, False), ("evil.example@127.0.0.1", False, False),
    ("127.0.0.1/evil", False, False), ("127.0.0.1:notaport", False, False), ("", False, False),
    (None, False, False),
])
def test_dns_rebinding_host_allow_list(host, default, compose):
    assert DEFAULT.allows(host) is default
    assert COMPOSE.allows(host) is compose


def test_dns_rebinding_bind_name_and_explicit_wildcard():
    named = HostAllowList.for_server((), "monitor.lan")
    assert named.allows("monitor.lan:8000") and not named.allows("evil.example")
    assert not HostAllowList.for_server((), "::").allows("evil.example")
    anything = HostAllowList.for_server(["*"], "127.0.0.1")
    assert anything.allows("evil.example:8000") and anything.allows(None)


def test_dns_rebinding_refusal_reasons():
    assert refusal("evil.example:8000", None, DEFAULT) == "Host not allowed"
    assert refusal("127.0.0.1:8000", "http://evil.example", DEFAULT) == "Origin not allowed"
    assert refusal("127.0.0.1:8000", "null", DEFAULT) == "Origin not allowed"
    assert refusal("127.0.0.1:8000", "http://127.0.0.1:8000", DEFAULT) is None
    assert refusal("127.0.0.1:8000", "https://ops.example", DEFAULT, ["https://ops.example"]) is None
    assert refusal("127.0.0.1:8000", None, DEFAULT) is None


def test_dns_rebinding_allow_list_config_is_validated():
    s = parse_settings({"monitoring": {"prometheus_allowed_hosts": "exporter, graphwiz-exporter:8000"},
                        "websocket": {"allowed_hosts": ["status.example"]},
                        "flower": {"allowed_hosts": ["*"]}}, env={})
    assert s.monitoring.prometheus_allowed_hosts == ["exporter", "graphwiz-exporter:8000"]
    assert s.websocket.allowed_hosts == ["status.example"] and s.flower.allowed_hosts == ["*"]
    assert parse_settings({}, env={}).monitoring.prometheus_allowed_hosts == []
    for bad in ("http://exporter", "exporter:99999", "*.example.com", "exporter/metrics"):
        with pytest.raises(ConfigError, match="monitoring.prometheus_allowed_hosts") as info:
            parse_settings({"monitoring": {"prometheus_allowed_hosts": [bad]}}, env={})
        assert repr(bad) in str(info.value) or "port" in str(info.value)
