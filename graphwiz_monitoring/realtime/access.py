"""Who may talk to the realtime server: bind check, token, Origin and Host checks.

Rules (websocket settings):
- bound to a non-loopback address, the server refuses to start without ``websocket.token``;
- a configured token is required on every WebSocket and API request, wherever the server is bound
  (``?token=`` for browsers, which cannot set headers on a WebSocket, or ``Authorization: Bearer``);
- a request carrying ``Origin`` (every browser does) must come from this server's own host:port or
  from ``websocket.allowed_origins``; non-browser clients send no Origin and rely on the token;
- without a token, the ``Host`` header must name a loopback host: a DNS-rebinding page (evil.example
  resolving to 127.0.0.1) would otherwise pass the same-host Origin check.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import parse_qs, urlsplit

from graphwiz_monitoring.config import WebsocketSettings
from graphwiz_monitoring.errors import ConfigError

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback_host(host: str) -> bool:
    """True for loopback names and addresses; wildcard binds ("", 0.0.0.0, ::) are not loopback."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # another host name: may resolve anywhere, so treat it as exposed


def check_bind(ws: WebsocketSettings) -> None:
    """Raises ConfigError when the server would be reachable from other hosts without a token."""
    if not is_loopback_host(ws.host) and not token_of(ws):
        raise ConfigError([f"websocket.token: required when websocket.host ({ws.host!r}) is not a loopback "
                           "address; set it (e.g. token: ${GRAPHWIZ_WS_TOKEN}) or bind to 127.0.0.1"])


def token_of(ws: WebsocketSettings) -> str | None:
    return ws.token.get_secret_value() if ws.token is not None and ws.token.get_secret_value() else None


def presented_token(path: str, authorization: str | None) -> str | None:
    """The token a request carries: ``Authorization: Bearer X`` first, then ``?token=X``."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None


def token_ok(expected: str | None, presented: str | None) -> bool:
    """No token configured: anyone (loopback only, see check_bind); else a constant-time match."""
    if expected is None:
        return True
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def _host_port(netloc: str, scheme: str) -> tuple[str, int | None]:
    parts = urlsplit(f"{scheme}://{netloc}")
    try:
        port = parts.port
    except ValueError:
        return "", None
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
    return (parts.hostname or "").lower(), port if port is not None else default


def origin_ok(origin: str | None, host_header: str | None, allowed: list[str]) -> bool:
    """No Origin (not a browser): yes. Else the same host:port as ``Host``, or listed in ``allowed``."""
    if origin is None:
        return True
    origin = origin.strip()
    if origin.rstrip("/") in {a.strip().rstrip("/") for a in allowed}:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or not host_header:
        return False  # "null" (sandboxed iframes, file://) and garbage
    origin_host = _host_port(parts.netloc, parts.scheme)
    return origin_host[0] != "" and origin_host == _host_port(host_header.strip(), parts.scheme)


def host_ok(host_header: str | None, token: str | None) -> bool:
    """With a token anything goes (the token is the guard); without one, Host must be loopback."""
    if token is not None:
        return True
    if not host_header:
        return False
    hostname, _ = _host_port(host_header.strip(), "http")
    return bool(hostname) and is_loopback_host(hostname)
