"""``redis.url`` forms: one Redis (redis://, rediss://, unix://) or Redis Sentinel in kombu's form.

A Sentinel deployment is named by its sentinels, ``;``-separated, each ``sentinel://[:password@]host[:port]``
(kombu's broker URL form, which Celery users already know; port 26379 when omitted)::

    sentinel://:pw@h1:26379;sentinel://:pw@h2:26379;sentinel://:pw@h3:26379/0

The database (``/N``, default 0) may be named on any address (the same on each that names one). The
URL's password is the one of the Redis master and replicas (kombu passes it to them, not to the
sentinels); sentinels that require a password of their own get ``redis.sentinel_password``.
``redis.sentinel_master`` names the master set the sentinels watch. The broker (kombu's Sentinel
transport, celery/hardening.py) and the store (redis-py's ``Sentinel``, state/store.py) both read the
parse below, so they never disagree about a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

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
    named_db: int | None = None
    username, password = None, None
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
            if not path.isdigit():
                raise SentinelUrlError(f"{where}: the database must be a number (/0), not a path")
            if named_db is not None and int(path) != named_db:
                raise SentinelUrlError(f"{where} names another database than an address before it")
            named_db = int(path)
        username = unquote(split.username) if split.username else username
        password = unquote(split.password) if split.password is not None else password
        sentinels.append((split.hostname, port or DEFAULT_SENTINEL_PORT))
    return SentinelAddresses(tuple(sentinels), named_db or 0, username, password)


def normalised_sentinel_url(url: str) -> str:
    """``url`` with the database and credentials on every address.

    kombu reads them from whichever address it is connected through (the first, then the next one after
    a failed attempt), while the usual form names the database on the last address only: without
    this, the broker would use database 0 through the first sentinel and another through the last.
    """
    parsed = parse_sentinel_url(url)
    user = quote(parsed.username or "", safe="")
    auth = f"{user}:{quote(parsed.password, safe='')}@" if parsed.password is not None else (
        f"{user}@" if user else "")
    return ";".join(f"{SENTINEL_SCHEME}://{auth}{f'[{host}]' if ':' in host else host}:{port}/{parsed.db}"
                    for host, port in parsed.sentinels)
