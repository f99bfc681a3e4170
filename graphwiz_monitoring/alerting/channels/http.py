"""HTTP for webhook-style channels: one POST, its failure classified, no URL ever in an error or log.

requests' exceptions carry the full URL (which for Discord, Slack and Telegram *is* the secret), so
they are caught and replaced by a reason naming only the channel and the kind of failure, raised
outside the ``except`` block so the original does not even ride along as ``__context__``.
urllib3 logs request lines (with the path) at DEBUG: a filter on its loggers redacts the secrets of
every channel built in this process.
"""

from __future__ import annotations

import email.utils
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import requests

from graphwiz_monitoring.alerting.channels.base import redact
from graphwiz_monitoring.errors import DeliveryFailed

# Statuses after which a retry can help: rate limit, request timeout, and every 5xx.
RETRYABLE_STATUSES = frozenset({408, 425, 429})
MAX_DETAIL_CHARS = 200
URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry")


class _SecretRedactor(logging.Filter):
    """Rewrites log records of the HTTP stack so that no registered secret survives."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def add(self, secrets: list[str]) -> None:
        self.secrets = sorted(set(self.secrets) | set(secrets), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = redact(message, self.secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_redactor = _SecretRedactor()
for _name in URLLIB3_LOGGERS:
    logging.getLogger(_name).addFilter(_redactor)


def protect(secrets: list[str]) -> None:
    """Register secrets to be redacted from the HTTP stack's own log lines."""
    _redactor.add(secrets)


_sessions: dict[int, requests.Session] = {}


def _session() -> requests.Session:
    """One session (connection pool) per process: a pool inherited through fork is not safe."""
    pid = os.getpid()
    session = _sessions.get(pid)
    if session is None:
        _sessions.clear()
        session = _sessions[pid] = requests.Session()
        session.headers["User-Agent"] = "graphwiz-monitoring"
    return session


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Is ``kind`` anywhere in the chain (causes, contexts, urllib3's ``.reason`` / wrapped args)?"""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args[:1]]
    return False


def post(channel: str, url: str, *, timeout: float, json_body: Any = None, data: bytes | None = None,
         headers: Mapping[str, str] | None = None) -> requests.Response:
    """POST once; network trouble becomes a retryable DeliveryFailed, bad configuration a final one."""
    return request("POST", channel, url, timeout=timeout, json_body=json_body, data=data, headers=headers)


def request(method: str, channel: str, url: str, *, timeout: float, json_body: Any = None, data: bytes | None = None,
            headers: Mapping[str, str] | None = None) -> requests.Response:
    """One request (``post``'s, or the dead-man's switch's GET), failures classified the same way."""
    reason, retryable = "", True
    try:
        return _session().request(method, url, json=json_body, data=data, headers=dict(headers or {}),
                                  timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        reason = f"{channel}: timed out after {timeout:g}s"
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
            requests.exceptions.URLRequired):
        reason, retryable = f"{channel}: the configured URL is not valid", False
    except requests.exceptions.InvalidHeader:
        reason, retryable = f"{channel}: a configured header is not valid", False
    except requests.exceptions.SSLError:
        reason = f"{channel}: TLS error"
    except requests.ConnectionError as exc:
        refused = _caused_by(exc, ConnectionRefusedError)
        reason = f"{channel}: connection refused" if refused else f"{channel}: connection failed"
    except requests.RequestException as exc:
        reason = f"{channel}: request failed ({type(exc).__name__})"
    raise DeliveryFailed(reason, retryable=retryable)


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        try:  # Retry-After may be an HTTP date
            when = email.utils.parsedate_to_datetime(str(value))
        except (TypeError, ValueError, IndexError):
            return None
        number = when.timestamp() - time.time()
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return max(0.0, number)


def retry_after(headers: Mapping[str, str], body_seconds: Any = None) -> float | None:
    """The longest wait any of the server's hints asks for: ``Retry-After`` (seconds or date),
    Discord's ``X-RateLimit-Reset-After``, or a body field (Discord/Telegram ``retry_after``)."""
    hints = [_seconds(headers.get("Retry-After")), _seconds(headers.get("X-RateLimit-Reset-After")),
             _seconds(body_seconds)]
    known = [h for h in hints if h is not None]
    return max(known) if known else None


def json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def fail_for_status(channel: str, response: requests.Response, *, detail: str = "",
                    body_retry_after: Any = None, secrets: list[str] | None = None) -> DeliveryFailed:
    """The DeliveryFailed for a non-success answer: 429/408/5xx retryable (with the server's wait)."""
    status = response.status_code
    retryable = status in RETRYABLE_STATUSES or status >= 500
    text = f"{channel}: HTTP {status}"
    if 300 <= status < 400:
        text += " (unexpected redirect)"
    if detail:
        text += f" ({redact(detail, secrets or [])[:MAX_DETAIL_CHARS]})"
    wait = retry_after(response.headers, body_retry_after) if retryable else None
    return DeliveryFailed(text, retryable=retryable, retry_after=wait)
