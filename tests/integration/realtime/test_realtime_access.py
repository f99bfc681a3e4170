"""Who gets in: token on a non-loopback bind, Origin and Host checks, HTTP routes and the API guard."""

from __future__ import annotations

import json
import logging

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.alerting.records import load_alert
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import ConfigError
from graphwiz_monitoring.realtime.server import RealtimeServer
from tests.conftest import free_port
from tests.fakes.realtime_harness import http_json, http_request, raw_websocket

TOKEN = "s3cret-token-for-tests"


def refused_status(url: str, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as info:
        with connect(url, open_timeout=5, **kwargs):
            pass
    return info.value.response.status_code


def first_type(url: str, **kwargs) -> str:
    with connect(url, open_timeout=5, **kwargs) as ws:
        return json.loads(ws.recv(timeout=5))["type"]


def test_refuses_to_start_on_a_non_loopback_address_without_a_token(redis_url, store, keys):
    for host in ("0.0.0.0", "::", "", "192.0.2.10", "monitoring.example"):
        settings = parse_settings({"redis": {"url": redis_url}, "websocket": {"host": host}}, env={})
        with pytest.raises(ConfigError, match="websocket.token"):
            RealtimeServer(settings, store, keys)
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.5"):  # loopback binds need no token
        settings = parse_settings({"redis": {"url": redis_url}, "websocket": {"host": host}}, env={})
        RealtimeServer(settings, store, keys)


def test_non_loopback_bind_refuses_clients_without_the_token(realtime, caplog):
    caplog.set_level(logging.DEBUG)
    # Bound to every interface; the test still only talks to 127.0.0.1.
    server = realtime(host="0.0.0.0", token=TOKEN)
    url = server.ws_url
    assert refused_status(url) == 401
    assert refused_status(url + "?token=wrong") == 401
    assert refused_status(url, additional_headers={"Authorization": "Bearer wrong"}) == 401
    assert refused_status(url + "?token=") == 401
    assert first_type(url + f"?token={TOKEN}") == "snapshot"
    assert first_type(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) == "snapshot"
    # The API needs it too; the page itself carries no data and is served without it.
    assert http_json(server.port, "GET", "/api/snapshot")[0] == 401
    status, body = http_json(server.port, "GET", "/api/snapshot", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and "unavailable" in body
    assert http_request(server.port, "GET", "/")[0] == 200
    server_log = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("graphwiz_monitoring"))
    assert "refused a request without a valid token" in server_log
    assert TOKEN not in server_log  # not even websockets' debug log of the request line (the client's may)


def test_origin_must_be_this_server_or_an_allowed_one(realtime):
    server = realtime(allowed_origins=["https://ops.example.com"])
    url = server.ws_url
    assert refused_status(url, origin="http://evil.example") == 403
    assert refused_status(url, origin="null") == 403
    assert refused_status(url, origin=f"http://127.0.0.1:{server.port + 1}") == 403  # other port, other origin
    assert first_type(url, origin=f"http://127.0.0.1:{server.port}") == "snapshot"  # the status page itself
    assert first_type(url, origin="https://ops.example.com") == "snapshot"
    assert first_type(url) == "snapshot"  # no Origin: not a browser


def test_without_a_token_the_host_header_must_be_loopback(realtime):
    """A DNS-rebinding page (evil.example -> 127.0.0.1) passes a same-host Origin check; Host stops it."""
    server = realtime()
    rebinding = {"Host": f"evil.example:{server.port}", "Origin": f"http://evil.example:{server.port}"}
    sock, status = raw_websocket(server.port, headers=rebinding)
    sock.close()
    assert status == 403
    assert http_json(server.port, "POST", "/api/silences?alert_id=abc", rebinding)[0] == 403
    sock, status = raw_websocket(server.port, headers={"Host": f"localhost:{server.port}"})
    sock.close()
    assert status == 101


def test_http_routes_serve_the_page_locally_and_report_health(realtime):
    server = realtime()
    status, headers, body = http_request(server.port, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'<script src="/app.js"' in body and b"http://" not in body and b"https://" not in body  # no CDN
    assert "script-src 'self'" in headers["content-security-policy"]
    for path, kind in (("/app.js", "text/javascript"), ("/style.css", "text/css"),
                       ("/uPlot.iife.min.js", "text/javascript"), ("/uPlot.min.css", "text/css"),
                       ("/health-checks.html", "text/html")):
        status, headers, body = http_request(server.port, "GET", path)
        assert status == 200 and headers["content-type"].startswith(kind) and body
        assert b"innerHTML" not in body  # data is written with textContent only (uPlot's build included)
    status, headers, body = http_request(server.port, "GET", "/uPlot-LICENSE.txt")
    assert status == 200 and b"The MIT License" in body and b"Leon Sorokin" in body
    assert http_request(server.port, "GET", "/nope")[0] == 404
    assert http_request(server.port, "GET", "/../../etc/passwd")[0] == 404
    assert http_request(server.port, "DELETE", "/")[0] == 405
    status, health = http_json(server.port, "GET", "/healthz")
    assert status == 200 and health["status"] == "ok" and health["redis_subscribed"] is True
    assert health["clients"] == 0
    # The original description's client connects to the bare address: "/" upgrades too.
    assert first_type(f"ws://127.0.0.1:{server.port}") == "snapshot"
    assert refused_status(f"ws://127.0.0.1:{server.port}/elsewhere") == 404


def test_silence_endpoint_validates_its_input(realtime):
    server = realtime(token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert http_json(server.port, "POST", "/api/silences?alert_id=abc")[0] == 401
    assert http_json(server.port, "POST", "/api/silences?alert_id=abc", {**auth, "Origin": "http://evil.example"})[0] == 403
    assert http_json(server.port, "POST", "/api/silences?alert_id=a%20b", auth)[0] == 400
    assert http_json(server.port, "POST", "/api/silences?alert_id=abc&duration_seconds=5", auth)[0] == 400
    assert http_json(server.port, "POST", "/api/silences?alert_id=abc&duration_seconds=x", auth)[0] == 400
    assert http_json(server.port, "GET", "/api/silences?alert_id=abc", auth)[0] == 405


def test_ack_endpoint_acknowledges_through_the_alerting_area(realtime, store, keys):
    """POST /api/alerts/ack: the token on an exposed bind, a cross-site page refused (Origin), then the ack."""
    server = realtime(host="0.0.0.0", token=TOKEN)
    alert = AlertManager(store, keys, server.settings, dispatch=lambda *a: None).check_alert(
        "large_loss", {"trading": {"current_drawdown": 0.2}})
    assert alert is not None
    path, auth = f"/api/alerts/ack?alert_id={alert.alert_id}&comment=on+it", {"Authorization": f"Bearer {TOKEN}"}
    assert http_json(server.port, "POST", path)[0] == 401
    assert http_json(server.port, "POST", path + "&token=wrong")[0] == 401
    # CSRF: a page elsewhere making the browser POST here carries its own Origin (and no token it could know).
    assert http_json(server.port, "POST", path, {**auth, "Origin": "http://evil.example"})[0] == 403
    assert http_json(server.port, "POST", path, {"Origin": "http://evil.example"})[0] == 403
    loaded = load_alert(store, keys, alert.alert_id)
    assert loaded is not None and not loaded.acknowledged  # none of those changed anything
    assert http_json(server.port, "POST", "/api/alerts/ack?alert_id=a%20b", auth)[0] == 400
    status, body = http_json(server.port, "POST", "/api/alerts/ack?alert_id=nosuchalert", auth)
    assert status == 404 and "nosuchalert" in body["error"]
    assert http_json(server.port, "GET", path, auth)[0] == 405
    status, body = http_json(server.port, "POST", path, {**auth, "Origin": f"http://127.0.0.1:{server.port}"})
    assert status == 200 and body["acknowledged"] is True and body["acknowledged_by"] == "status page"
    assert body["ack_comment"] == "on it"
    loaded = load_alert(store, keys, alert.alert_id)
    assert loaded is not None and loaded.acknowledged and loaded.acknowledged_by == "status page"
    # ... and taken back the same way (the same token and Origin checks)
    unack = f"/api/alerts/unack?alert_id={alert.alert_id}"
    assert http_json(server.port, "POST", unack)[0] == 401
    assert http_json(server.port, "POST", unack, {**auth, "Origin": "http://evil.example"})[0] == 403
    assert http_json(server.port, "POST", "/api/alerts/unack?alert_id=nosuchalert", auth)[0] == 404
    assert http_json(server.port, "GET", unack, auth)[0] == 405
    assert load_alert(store, keys, alert.alert_id).acknowledged  # type: ignore[union-attr]
    status, body = http_json(server.port, "POST", unack, auth)
    assert status == 200 and body["acknowledged"] is False
    loaded = load_alert(store, keys, alert.alert_id)
    assert loaded is not None and not loaded.acknowledged


def test_port_in_use_is_a_clear_error(redis_url, store, keys):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        settings = parse_settings({"redis": {"url": redis_url}, "websocket": {"port": port}}, env={})
        from tests.fakes.realtime_harness import ServerThread

        with pytest.raises(Exception, match=f"cannot listen on 127.0.0.1:{port}"):
            ServerThread(settings, store, keys).start()
    assert free_port()  # the fixture helper still works afterwards


def test_dns_rebinding_host_is_refused_on_every_realtime_route(realtime):
    """Finding 8 (issue 11): every route checks Host and Origin, with or without a token.

    Before, the page, its assets and /healthz answered any Host, and a token waived the Host check.
    """
    server = realtime(host="0.0.0.0", token=TOKEN, allowed_hosts=["status.example"])
    auth = {"Authorization": f"Bearer {TOKEN}"}
    evil = {"Host": f"evil.example:{server.port}", **auth}
    for method, path in (("GET", "/"), ("GET", "/app.js"), ("GET", "/healthz"), ("GET", "/api/snapshot"),
                         ("POST", "/api/silences?alert_id=abc"), ("POST", "/api/alerts/ack?alert_id=abc"),
                         ("GET", "/nope")):
        status, body = http_json(server.port, method, path, evil)
        assert (status, body) == (403, {"error": "Host not allowed"}), (method, path)
        status, body = http_json(server.port, method, path, {**auth, "Origin": "http://evil.example"})
        assert (status, body) == (403, {"error": "Origin not allowed"}), (method, path)
    sock, status = raw_websocket(server.port, path=f"/ws?token={TOKEN}", headers={"Host": "evil.example"})
    sock.close()
    assert status == 403
    # The allow-listed name, loopback and IP addresses pass; the token is still required for data.
    for host in (f"status.example:{server.port}", f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
        assert http_request(server.port, "GET", "/", {"Host": host})[0] == 200, host
        assert http_json(server.port, "GET", "/api/snapshot", {"Host": host})[0] == 401, host
        assert http_json(server.port, "GET", "/api/snapshot", {"Host": host, **auth})[0] == 200, host
    sock, status = raw_websocket(server.port, path=f"/ws?token={TOKEN}", headers={"Host": "status.example"})
    sock.close()
    assert status == 101
