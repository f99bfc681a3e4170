"""Which settings are secrets and how they are masked in messages and in check-config output."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MASK = "**********"

# Keys whose values are secrets: masked in error messages and in check-config output.
SECRET_KEYS = frozenset({"webhook_url", "password", "bot_token", "token", "secret", "headers", "url",
                         "sentinel_password", "heartbeat_url", "watchdog_url"})
# Pydantic error type of validators whose message never contains the value: shown even under a secret key.
VALUE_FREE_ERROR = "value_free"


def mask_url(url: str) -> str:
    """Replace the password of a URL (redis://user:pw@host) with a mask; of each address of a
    ``;``-separated list too (a sentinel:// URL names every sentinel)."""
    if ";" in url:
        return ";".join(_mask_one(part) for part in url.split(";"))
    return _mask_one(url)


def _mask_one(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}{MASK}@{netloc}"))
