"""Batches the broker accepted but no worker has recorded yet, re-sent if the broker lost them.

A batch the broker acknowledged can still vanish before a worker ingests it: Redis killed -9 after a
worker's BRPOP took the message but before the reply reached the worker (the pop is on disk, the
message nowhere), or an AOF ``everysec`` loss of the last second of writes. The worker records each
ingested batch id in ``batches:seen`` (ingest.lua), so the trader's sender asks for the ids it sent
and sends again any batch not recorded ``trader.resend_unconfirmed_after_seconds`` after it was sent,
but only while the ingest queue is empty: a backlog is not mistaken for a loss. A re-sent batch that
did arrive after all is recognised by its id and not counted twice.

At ``stop()`` the client waits briefly for the batches still unrecorded (``settle``) and journals
those that stay so: the next client started on the same journal_dir sends them again.

Best effort by design: it needs Redis to answer, remembers at most ``trader.buffer_max_records``
records (the oldest are forgotten first, they are in the broker), and a hard kill of the trader
forgets the batches sent in its last seconds.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.tasks import INGEST, pipe_queue_length

log = logging.getLogger(__name__)

# (batch ids) -> (which of them a worker recorded, whether the ingest queue is empty), or None when
# Redis cannot tell now.
Confirm = Callable[[list[str]], "tuple[list[bool], bool] | None"]


def redis_confirm(settings: Settings) -> Confirm:
    """Look the ids up in ``batches:seen`` (one ZMSCORE) and the ingest queue's length, in one round trip."""
    from graphwiz_monitoring.state import KeySpace, Store

    store = Store.from_settings(settings.redis)
    seen_key = KeySpace(settings.redis.namespace).batches_seen

    def confirm(batch_ids: list[str]) -> tuple[list[bool], bool] | None:
        try:
            pipe = store.r.pipeline(transaction=False)  # one round trip, every second from the shipper
            pipe.zmscore(seen_key, batch_ids)
            pipe_queue_length(pipe, INGEST)
            scores, *lengths = pipe.execute()
            queued = sum(lengths)
        except Exception as exc:  # Redis down: ask again later
            log.debug("in-flight batches not checked: %s", type(exc).__name__)
            return None
        return [score is not None for score in scores], not queued

    return confirm


class InFlight:
    """Sent batches by id, oldest first, until a worker has recorded them."""

    def __init__(self, confirm: Confirm, resend_after: float, max_records: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._confirm, self._resend_after, self._max_records = confirm, resend_after, max_records
        self._clock = clock
        self._batches: OrderedDict[str, tuple[dict[str, Any], int, float]] = OrderedDict()  # id -> (batch, n, sent)
        self._records = 0
        self.recorded = 0  # batches found recorded by a worker so far (the fallback's sign of a live pipeline)

    def __len__(self) -> int:
        return len(self._batches)

    def add(self, batch: dict[str, Any], n: int) -> None:
        batch_id = batch.get("batch_id")
        if not isinstance(batch_id, str):
            return
        self._batches[batch_id] = (batch, n, self._clock())
        self._records += n
        while self._records > self._max_records and len(self._batches) > 1:
            self._records -= self._batches.popitem(last=False)[1][1]  # oldest: in the broker, just not watched

    def check(self) -> list[tuple[dict[str, Any], int]]:
        """Forget the recorded batches; return (batch, n) of those overdue and not recorded, oldest first."""
        if not self._batches:
            return []
        ids = list(self._batches)
        answer = self._confirm(ids)
        if answer is None:
            return []
        recorded, queue_empty = answer
        now, overdue = self._clock(), []
        for batch_id, done in zip(ids, recorded, strict=True):
            batch, n, sent = self._batches[batch_id]
            # With a backlog in the queue a missing batch may still be in it: wait, do not re-send.
            if done or (queue_empty and now - sent >= self._resend_after):
                del self._batches[batch_id]
                self._records -= n
                if done:
                    self.recorded += 1
                else:
                    overdue.append((batch, n))
        return overdue

    def settle(self, timeout: float, poll: float = 0.05) -> list[tuple[dict[str, Any], int]]:
        """At stop: wait up to ``timeout`` s (real time) for workers to record every sent batch; forget them
        all and return (batch, n) of those not recorded, oldest first. ``timeout`` 0: return them unasked."""
        deadline = time.monotonic() + timeout
        while self._batches and timeout > 0:
            ids = list(self._batches)
            answer = self._confirm(ids)
            if answer is not None:
                for batch_id, done in zip(ids, answer[0], strict=True):
                    if done:
                        del self._batches[batch_id]
            if not self._batches or time.monotonic() + poll > deadline:
                break
            time.sleep(poll)
        rest = [(batch, n) for batch, n, _ in self._batches.values()]
        self._batches.clear()
        self._records = 0
        return rest
