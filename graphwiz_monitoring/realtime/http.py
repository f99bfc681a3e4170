"""HTTP side of the realtime server, run by websockets' ``process_request`` before any handshake.

Routes: ``GET /`` (the status page; WebSocket upgrades on ``/`` or ``/ws`` go through to the stream
after the token/Origin/Host checks), its assets (``STATIC_FILES``: app.js, style.css, the vendored
uPlot chart library with its licence, the health-check help page), ``GET /healthz``,
``GET /api/snapshot``, ``POST /api/silences?alert_id=..&duration_seconds=..&reason=..`` and
``POST /api/alerts/ack?alert_id=..&comment=..``, ``POST /api/alerts/unack?alert_id=..`` (an ack pressed by
mistake is taken back where it was given; websockets reads no request body, so parameters
travel in the query string; POST needs websockets >= 17). A cross-site page cannot make the browser
POST here: its request carries a foreign ``Origin`` and gets 403 before any route runs. The page and its assets carry no data, so they are served without the token;
everything that returns or changes state requires it. Every route, the page included, first passes
the Host/Origin check shared with the exporter (http_access.py), so a DNS-rebinding page gets 403.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from graphwiz_monitoring.errors import AlertNotFoundError, GraphwizError, StateError
from graphwiz_monitoring.http_access import HostAllowList, refusal, shown
from graphwiz_monitoring.realtime import access

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
STATIC_FILES = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js", "/style.css": "style.css",
                "/health-checks.html": "health-checks.html",
                # uPlot 1.6.32 (MIT), the npm package's minified build, vendored: no CDN (see README)
                "/uPlot.iife.min.js": "uPlot.iife.min.js", "/uPlot.min.css": "uPlot.min.css",
                "/uPlot-LICENSE.txt": "uPlot-LICENSE.txt"}
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8"}
API_ROUTES = ("/healthz", "/api/snapshot", "/api/silences", "/api/alerts/ack", "/api/alerts/unack")
WEBSOCKET_PATHS = frozenset({"/", "/ws"})
# Everything is local: no CDN, no inline script, no framing by other sites.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
ALERT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
SILENCE_MIN_SECONDS, SILENCE_MAX_SECONDS = 60.0, 7 * 24 * 3600.0
REASON_MAX_CHARS = 200
ACK_BY = "status page"  # who acknowledged: the page has no user accounts, the token is the credential


def response(status: HTTPStatus, body: bytes | str, content_type: str = "text/plain; charset=utf-8",
             extra: dict[str, str] | None = None) -> Response:
    data = body.encode() if isinstance(body, str) else body
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(data))),
                       ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
                       ("Referrer-Policy", "no-referrer"), ("Connection", "close")])
    for name, value in (extra or {}).items():
        headers[name] = value
    return Response(status.value, status.phrase, headers, data)


def json_response(status: HTTPStatus, data: Any, extra: dict[str, str] | None = None) -> Response:
    return response(status, json.dumps(data, default=str), "application/json", extra)


class Routes:
    """``process_request`` callable; ``snapshot``/``silence``/``acknowledge``/``unacknowledge``/``health`` come
    from the server."""

    def __init__(self, *, token: str | None, allowed_origins: list[str],
                 snapshot: Callable[[], dict[str, Any]], silence: Callable[..., dict[str, Any]],
                 health: Callable[[], tuple[bool, dict[str, Any]]], acknowledge: Callable[..., dict[str, Any]],
                 unacknowledge: Callable[..., dict[str, Any]], hosts: HostAllowList | None = None) -> None:
        self.token = token
        self.allowed_origins = allowed_origins
        self.hosts = hosts or HostAllowList.for_server((), None)  # loopback names and IP addresses
        self.snapshot = snapshot
        self.silence = silence
        self.acknowledge = acknowledge
        self.unacknowledge = unacknowledge
        self.health = health
        self.static = {path: (STATIC_DIR / name).read_bytes() for path, name in STATIC_FILES.items()}

    async def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        refused = self._check_host_and_origin(request)
        if refused is not None:
            return refused
        path = urlsplit(request.path).path
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if request.method != "GET" or path not in WEBSOCKET_PATHS:
                return response(HTTPStatus.NOT_FOUND, "no WebSocket here; connect to / or /ws\n")
            return self._guard(request)  # None: go on with the handshake
        if path == "/healthz" and request.method == "GET":
            ok, data = self.health()
            return json_response(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, data)
        if path in self.static and request.method == "GET":
            suffix = Path(STATIC_FILES[path]).suffix
            return response(HTTPStatus.OK, self.static[path], CONTENT_TYPES[suffix],
                            {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY"})
        if path == "/api/snapshot" and request.method == "GET":
            return self._guard(request) or json_response(HTTPStatus.OK, await asyncio.to_thread(self.snapshot))
        if path == "/api/silences" and request.method == "POST":
            return self._guard(request) or await self._silence(request)
        if path == "/api/alerts/ack" and request.method == "POST":
            return self._guard(request) or await self._answer(request, self.acknowledge, "acknowledged", comment=True)
        if path == "/api/alerts/unack" and request.method == "POST":
            return self._guard(request) or await self._answer(request, self.unacknowledge, "unacknowledged", comment=False)
        if path in self.static or path in API_ROUTES:
            return response(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed\n")
        return response(HTTPStatus.NOT_FOUND, "not found\n")

    def _check_host_and_origin(self, request: Request) -> Response | None:
        """Every route: Host in the allow-list, Origin (when sent) this server or an allowed one."""
        host, origin = request.headers.get("Host"), request.headers.get("Origin")
        why = refusal(host, origin, self.hosts, self.allowed_origins)
        if why is None:
            return None
        if why.startswith("Host"):
            log.warning("realtime: refused a request for Host %s; allow a name with websocket.allowed_hosts",
                        shown(host))
        else:
            log.warning("realtime: refused a request from a disallowed Origin %s", shown(origin))
        return json_response(HTTPStatus.FORBIDDEN, {"error": why})

    def _guard(self, request: Request) -> Response | None:
        """The token check of the stream and the API (Host and Origin passed already); None when it passes."""
        headers = request.headers
        presented = access.presented_token(request.path, headers.get("Authorization"))
        if not access.token_ok(self.token, presented):
            log.warning("realtime: refused a request without a valid token")
            return json_response(HTTPStatus.UNAUTHORIZED, {"error": "a valid token is required"},
                                 extra={"WWW-Authenticate": "Bearer"})
        return None

    async def _silence(self, request: Request) -> Response:
        query = parse_qs(urlsplit(request.path).query)
        alert_id = (query.get("alert_id") or [""])[0]
        reason = (query.get("reason") or ["silenced from the status page"])[0][:REASON_MAX_CHARS]
        try:
            duration = float((query.get("duration_seconds") or ["3600"])[0])
        except ValueError:
            duration = -1.0
        if not ALERT_ID.match(alert_id):
            return json_response(HTTPStatus.BAD_REQUEST, {"error": "alert_id is missing or malformed"})
        if not SILENCE_MIN_SECONDS <= duration <= SILENCE_MAX_SECONDS:
            return json_response(HTTPStatus.BAD_REQUEST, {
                "error": f"duration_seconds must be {SILENCE_MIN_SECONDS:.0f}..{SILENCE_MAX_SECONDS:.0f}"})
        try:
            created = await asyncio.to_thread(self.silence, alert_id=alert_id, duration_seconds=duration,
                                              author="status-page", reason=reason)
        except StateError:
            return json_response(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "Redis is unavailable"})
        except LookupError:
            return json_response(HTTPStatus.NOT_FOUND, {"error": f"no alert {alert_id}"})
        except (GraphwizError, ValueError) as exc:
            return json_response(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        return json_response(HTTPStatus.CREATED, created)

    async def _answer(self, request: Request, act: Callable[..., dict[str, Any]], done: str, *,
                      comment: bool) -> Response:
        """An ack or its taking back, on the active alert ``alert_id`` (``comment``: the act takes one)."""
        query = parse_qs(urlsplit(request.path).query)
        alert_id = (query.get("alert_id") or [""])[0]
        if not ALERT_ID.match(alert_id):
            return json_response(HTTPStatus.BAD_REQUEST, {"error": "alert_id is missing or malformed"})
        extra = {"comment": (query.get("comment") or [""])[0][:REASON_MAX_CHARS] or None} if comment else {}
        try:
            alert = await asyncio.to_thread(act, alert_id=alert_id, by=ACK_BY, **extra)
        except StateError:
            return json_response(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "Redis is unavailable"})
        except AlertNotFoundError as exc:  # unknown, resolved or expired
            return json_response(HTTPStatus.NOT_FOUND, {"error": str(exc)})
        except ValueError as exc:  # a field out of bounds (the message names it)
            return json_response(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        log.info("realtime: alert %s %s from the status page", alert_id, done)
        return json_response(HTTPStatus.OK, alert)
