"""Host and Origin checks shared by every HTTP server we run (exporter, realtime server, Flower).

Why: a DNS-rebinding page (``evil.example`` first resolving to the attacker, then to 127.0.0.1) is
same-origin with whatever listens on that port of the victim's machine, so the browser lets it read
the answers. The only trace it cannot hide is the ``Host`` header, which names ``evil.example``.
So a request is answered only when its Host is one we expect:

- a loopback name (``localhost``) or any IP literal: a rebinding page is always reached through a
  name it controls; a page at an IP address is cross-origin to us unless we served it ourselves
  (the same reasoning as Jupyter's ``allow_remote_access`` check);
- the address the server is bound to, when it is a name (``0.0.0.0``/``::`` name nothing);
- an entry of the configured allow-list: ``name`` (any port) or ``name:port``, case-insensitive;
  ``*`` switches the check off, on purpose only (e.g. behind a proxy that checks Host itself).

A request carrying ``Origin`` (browsers add it to cross-origin and state-changing requests) must
also come from the same scheme/host/port as its ``Host``, or from a configured origin. A request
without ``Host`` is refused: HTTP/1.1 requires it and every browser and scraper sends it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

ANY_HOST = "*"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
MAX_SHOWN_CHARS = 80  # a refused Host/Origin is quoted in the log, never in full
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


def _normal(name: str) -> str:
    """Lower case, brackets and a trailing root dot removed: ``Exporter.`` and ``exporter`` are one name."""
    return name.strip().strip("[]").rstrip(".").lower()


def is_loopback_host(host: str) -> bool:
    """True for loopback names and addresses; wildcard binds ("", 0.0.0.0, ::) are not loopback."""
    name = _normal(host)
    if name in LOOPBACK_NAMES:
        return True
    ip = _ip(name)
    return ip is not None and ip.is_loopback  # another host name may resolve anywhere: treated as exposed


def split_host_port(netloc: str, scheme: str = "http") -> tuple[str, int | None]:
    """``("host", port)`` of a Host header or an Origin's netloc; ``("", None)`` when malformed."""
    if not netloc or any(c in netloc for c in "/?#@ \t\r\n\\"):
        return "", None
    parts = urlsplit(f"{scheme}://{netloc}")
    try:
        port = parts.port
    except ValueError:
        return "", None
    return _normal(parts.hostname or ""), port if port is not None else _DEFAULT_PORTS.get(scheme)


def parse_host_entry(entry: str) -> tuple[str, int | None]:
    """An allow-list entry, ``name`` or ``name:port``; raises ValueError naming the entry when malformed."""
    text = str(entry).strip()
    if text == ANY_HOST:
        return ANY_HOST, None
    if not text or any(c in text for c in "/?#@ \t\r\n\\*"):
        raise ValueError(f"expected a host name or address, optionally with :port (or {ANY_HOST!r}), got {entry!r}")
    parts = urlsplit(f"//{text}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in {entry!r}") from None
    if not parts.hostname:
        raise ValueError(f"expected a host name or address, optionally with :port, got {entry!r}")
    return _normal(parts.hostname), port


def host_list(value: object) -> object:
    """Config validator: a list of entries, or one comma-separated string (handy in an env variable)."""
    if isinstance(value, str):
        value = [v for v in (p.strip() for p in value.split(",")) if v]
    if isinstance(value, (list, tuple)):
        for entry in value:
            parse_host_entry(entry)
        return [str(v).strip() for v in value]
    return value  # the list type itself reports it


@dataclass(frozen=True)
class HostAllowList:
    """Which ``Host`` headers a server answers; build it with ``for_server``."""

    entries: frozenset[tuple[str, int | None]]
    any_host: bool = False

    @classmethod
    def for_server(cls, configured: Iterable[str], bind_host: str | None) -> HostAllowList:
        """The configured entries plus the bind address when it names a host (0.0.0.0 / :: do not)."""
        entries = {parse_host_entry(e) for e in configured}
        any_host = (ANY_HOST, None) in entries
        entries.discard((ANY_HOST, None))
        bind = _normal(bind_host or "")
        ip = _ip(bind)
        if bind and not (ip is not None and ip.is_unspecified):
            entries.add((bind, None))
        return cls(frozenset(entries), any_host)

    def allows(self, host_header: str | None) -> bool:
        if self.any_host:
            return True
        hostname, port = split_host_port((host_header or "").strip())
        if not hostname:
            return False
        if hostname in LOOPBACK_NAMES or _ip(hostname) is not None:
            return True
        return (hostname, None) in self.entries or (hostname, port) in self.entries


def origin_ok(origin: str | None, host_header: str | None, allowed: Iterable[str] = ()) -> bool:
    """No Origin (not a browser): yes. Else the same scheme host:port as ``Host``, or listed in ``allowed``."""
    if origin is None:
        return True
    origin = origin.strip()
    if origin.rstrip("/") in {a.strip().rstrip("/") for a in allowed}:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or not host_header:
        return False  # "null" (sandboxed iframes, file://) and garbage
    origin_host = split_host_port(parts.netloc, parts.scheme)
    return origin_host[0] != "" and origin_host == split_host_port(host_header.strip(), parts.scheme)


def refusal(host_header: str | None, origin: str | None, hosts: HostAllowList,
            allowed_origins: Iterable[str] = ()) -> str | None:
    """Why a request must be refused (403), or None when its Host and Origin are acceptable."""
    if not hosts.allows(host_header):
        return "Host not allowed"
    if not origin_ok(origin, host_header, allowed_origins):
        return "Origin not allowed"
    return None


def shown(value: str | None) -> str:
    """A header value fit for a log line: quoted, control characters escaped, length bounded."""
    return repr((value or "")[:MAX_SHOWN_CHARS])
