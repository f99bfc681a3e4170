"""``redis.url`` forms: one Redis (redis://, rediss://, unix://) or Redis Sentinel in kombu's form.

A Sentinel deployment is named by its sentinels, ``;``-separated, each ``sentinel://[:password@]host:port``,
the last one optionally ending with ``/db`` (kombu's broker URL form, which Celery users already know)::

    sentinel://:pw@h1:26379;sentinel://:pw@h2:26379;sentinel://:pw@h3:26379/0

The password in the URL is the one of the Redis master and replicas (kombu passes it to them, not
to the sentinels); sentinels that require a password of their own get ``redis.sentinel_password``.
``redis.sentinel_master`` names the master set the sentinels watch. Both the broker (kombu's
sentinel transport, celery/hardening.py) and the store (redis-py's ``Sentinel``, state/store.py) read
the parse below, so they never disagree about a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SENTINEL_SCHEME = "sentinel"
DEFAULT_SENTINEL_PORT = 26379


class SentinelUrlError(ValueError):
    """Raised when a sentinel:// URL is malformed; the message names the address's position, never its
    host or password (redis.url is a secret)."""


@dataclass(frozen=True)
class SentinelAddresses:
    """The parsed sentinel URL: (host, port) of every sentinel, the database, the data nodes' credentials."""

    sentinels: tuple[tuple[str, int], ...]
    db: int
    username: str | None
    password: str | None


def is_sentinel_url(url: str) -> bool:
    return url.partition("://")[0].strip().lower() == SENTINEL_SCHEME


def parse_sentinel_url(url: str) -> SentinelAddresses:
    """Every ``sentinel://`` address of ``url``; raises SentinelUrlError naming what is wrong and where."""
    parts = [p.strip() for p in url.split(";")]
    sentinels: list[tuple[str, int]] = []
    db, username, password = 0, None, None
    for number, part in enumerate(parts, start=1):
        where = f"sentinel address {number} of {len(parts)}"
        if not part:
            raise SentinelUrlError(f"{where} is empty (addresses are separated by ';')")
        try:
            split = urlsplit(part)
            port = split.port
        except ValueError:
            raise SentinelUrlError(f"{where} has an invalid port") from None
        if split.scheme.lower() != SENTINEL_SCHEME:
            raise SentinelUrlError(f"{where} must start with sentinel:// (every address of a sentinel URL does)")
        if not split.hostname:
            raise SentinelUrlError(f"{where} has no host")
        if split.query or split.fragment:
            raise SentinelUrlError(f"{where}: query parameters are not supported (set redis.* keys instead)")
        path = split.path.strip("/")
        if path:
            if number != len(parts) and not path.isdigit():
                raise SentinelUrlError(f"{where}: only the last address may name a database (/N)")
            if not path.isdigit():
                raise SentinelUrlError(f"{where}: the database must be a number (/0), not a path")
            db = int(path)
        username = unquote(split.username) if split.username else username
        password = unquote(split.password) if split.password is not None else password
        sentinels.append((split.hostname, port or DEFAULT_SENTINEL_PORT))
    return SentinelAddresses(tuple(sentinels), db, username, password)
