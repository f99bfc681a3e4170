"""Who may talk to the realtime server: bind check, token, Origin and Host checks.

Rules (websocket settings):
- bound to a non-loopback address, the server refuses to start without ``websocket.token``;
- a configured token is required on every WebSocket and API request, wherever the server is bound
  (``?token=`` for browsers, which cannot set headers on a WebSocket, or ``Authorization: Bearer``);
- every request (page, assets, /healthz, API, WebSocket) must name an expected ``Host``: loopback
  names, IP addresses, ``websocket.host`` or ``websocket.allowed_hosts``, so a DNS-rebinding page
  (evil.example resolving to 127.0.0.1) gets 403 even though its Origin looks same-host;
- a request carrying ``Origin`` (every browser does) must come from this server's own host:port or
  from ``websocket.allowed_origins``; non-browser clients send no Origin and rely on the token.
The Host and Origin rules are the ones every HTTP server of ours applies: see ../http_access.py.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs, urlsplit

from graphwiz_monitoring.config import WebsocketSettings
from graphwiz_monitoring.errors import ConfigError
from graphwiz_monitoring.http_access import HostAllowList, is_loopback_host, origin_ok

__all__ = ["check_bind", "host_allow_list", "is_loopback_host", "origin_ok", "presented_token", "token_of",
           "token_ok"]


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


def host_allow_list(ws: WebsocketSettings) -> HostAllowList:
    """The Host headers this server answers (http_access.HostAllowList): allowed_hosts plus its bind host."""
    return HostAllowList.for_server(ws.allowed_hosts, ws.host)
