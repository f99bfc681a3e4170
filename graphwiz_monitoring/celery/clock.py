"""How old a scheduled task is, judged on the Redis clock: the Celery glue beside celery/factory.py.

Celery's ``expires`` (and ``countdown``) become absolute times on the *sender's* clock, compared on
receipt with the *worker's*: a worker 60 s ahead of beat discarded every periodic task as expired, one
minutes behind ran a whole backlog of stale ones (issue 11, finding 2a). So a message whose options carry
``headers={MAX_AGE_HEADER: seconds}`` (every beat entry, the coalesced fast evaluation) is stamped when
it is published with the Redis time (``SENT_AT_HEADER``) and its countdown (``COUNTDOWN_HEADER``). The
worker reads the Redis time once when the message arrives and re-bases the message's expiry and ETA onto
its own clock; from there Celery proceeds as usual ("Discarding revoked task" on receipt and again just
before running). A task is thus discarded exactly when Redis-now - sent_at > max_age, whatever the
hosts' clocks say. A message without a (valid) stamp, e.g. published while Redis TIME failed, keeps
Celery's own ``expires``, which the beat entries still carry.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from celery.worker.request import Request

from graphwiz_monitoring.errors import GraphwizError

log = logging.getLogger(__name__)

MAX_AGE_HEADER = "graphwiz_max_age"  # seconds after publishing (Redis clock) when the task is stale
SENT_AT_HEADER = "graphwiz_sent_at"  # Redis time at publishing, epoch seconds
COUNTDOWN_HEADER = "graphwiz_countdown"  # seconds after publishing (Redis clock) when it may run

RedisClock = Callable[[], float]
# Bounds of a plausible stamp: beyond them a (forged) header is ignored rather than overflow a datetime.
MAX_EPOCH_SECONDS = 1e11  # year 5138
MAX_AGE_SECONDS = 1e7  # ~115 days


def stamp(options: dict[str, Any], redis_clock: RedisClock | None) -> None:
    """Add the Redis send time (and countdown) to the headers of a message that asks for a max age.

    ``options`` are ``send_task``'s; its ``headers`` dict is replaced, never changed in place (beat keeps
    one dict per entry for all its sends). Re-stamped on every publish, retries included: the age
    counts from the latest one.
    """
    headers = options.get("headers")
    if not isinstance(headers, Mapping) or MAX_AGE_HEADER not in headers or redis_clock is None:
        return
    stamped = {k: v for k, v in headers.items() if k not in (SENT_AT_HEADER, COUNTDOWN_HEADER)}
    try:
        stamped[SENT_AT_HEADER] = redis_clock()
    except GraphwizError as exc:  # Redis down: the publish itself fails next, or Celery's expires applies
        log.debug("task not stamped with the Redis time: %s", exc)
    else:
        stamped[COUNTDOWN_HEADER] = float(options.get("countdown") or 0.0)
    options["headers"] = stamped


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def read_stamp(headers: Mapping[str, Any]) -> tuple[float, float, float] | None:
    """(sent_at, max_age, countdown) from a message's headers; None when absent or not plausible numbers."""
    sent_at, max_age = _number(headers.get(SENT_AT_HEADER)), _number(headers.get(MAX_AGE_HEADER))
    countdown = _number(headers.get(COUNTDOWN_HEADER, 0.0))
    if sent_at is None or max_age is None or countdown is None:
        return None
    if not (0 < sent_at < MAX_EPOCH_SECONDS and 0 < max_age <= MAX_AGE_SECONDS and 0 <= countdown <= MAX_AGE_SECONDS):
        return None
    return sent_at, max_age, countdown


def rebased(stamp_: tuple[float, float, float], redis_now: float, local_now: float) -> tuple[datetime, datetime | None]:
    """The (expires, eta) of a stamped message on the local clock, given both clocks' readings now."""
    sent_at, max_age, countdown = stamp_
    offset = local_now - redis_now  # how far this host's clock is ahead of Redis's

    def local(redis_time: float) -> datetime:
        return datetime.fromtimestamp(redis_time + offset, tz=UTC)

    return local(sent_at + max_age), (local(sent_at + countdown) if countdown else None)


class RedisClockRequest(Request):
    """Celery's worker request, with a stamped message's expiry and ETA re-based onto this host's clock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        found = read_stamp(self._request_dict)
        clock: RedisClock | None = getattr(self._app, "redis_clock", None)
        if found is None or clock is None:
            return
        try:
            redis_now = clock()
        except GraphwizError as exc:  # Redis unreachable: Celery's own expires (sender's clock) applies
            log.debug("task %s judged on the local clock: %s", self.id, exc)
            return
        try:
            self._expires, eta = rebased(found, redis_now, time.time())
        except (OverflowError, OSError, ValueError):  # a clock beyond datetime's range: keep Celery's view
            return
        if eta is not None:
            self._eta = eta
