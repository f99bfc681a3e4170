"""The fast rule path: ingested data re-evaluates the rules that read it, coalesced and throttled.

``request_fast_evaluation()`` is called after each ingested batch. It queues at most one
``evaluate_fast`` at a time (SET NX on ``rules:fast:pending``); the evaluation clears that flag
*before* it builds its snapshot (``begin_fast_evaluation``), so data ingested after a request is
always seen by some evaluation, and ``rules:fast:throttle`` spaces evaluations by
``alerts.fast_evaluation_min_interval_seconds``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from graphwiz_monitoring import tasks
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import TaskSender

log = logging.getLogger(__name__)

# If a queued fast evaluation is lost, this is the longest the flag can block new requests.
FAST_PENDING_SAFETY_SECONDS = 10.0
# Kinds of ingested records that never change what fast rules read.
SLOW_ONLY_KINDS = frozenset({"system"})


def request_fast_evaluation(store: Store, keys: KeySpace, sender: TaskSender,
                            kinds: Iterable[str] | None = None) -> bool:
    """Queue one ``evaluate_fast`` unless one is already queued; True when this call queued it.

    ``kinds`` are the record kinds just ingested (None: unknown, always request). Never raises:
    the periodic evaluation still catches whatever a failed request would have.
    """
    if kinds is not None:
        kinds = set(kinds)
        if not kinds or kinds <= SLOW_ONLY_KINDS:
            return False
    try:
        if not store.r.set(keys.fast_eval_pending, "1", nx=True, px=int(FAST_PENDING_SAFETY_SECONDS * 1000)):
            return False
        wait_ms = store.r.pttl(keys.fast_eval_throttle)
        countdown = wait_ms / 1000.0 if wait_ms and wait_ms > 0 else None
        # Stale after FAST_PENDING_SAFETY_SECONDS on the Redis clock: Celery's expires and countdown alone
        # are absolute times on this host's clock, wrong on a rules worker whose clock is not.
        sender.send(tasks.EVALUATE_FAST, countdown=countdown, expires=FAST_PENDING_SAFETY_SECONDS,
                    max_age_seconds=FAST_PENDING_SAFETY_SECONDS)
        return True
    except Exception as exc:  # broker or Redis down: let the next batch try again
        log.warning("fast rule evaluation not queued: %s", type(exc).__name__)
        try:
            store.r.delete(keys.fast_eval_pending)
        except StateError:
            pass
        return False


def begin_fast_evaluation(store: Store, keys: KeySpace, settings: Settings) -> None:
    """Clear the pending flag (anything ingested from now on queues another evaluation), start the throttle."""
    pipe = store.r.pipeline(transaction=False)
    pipe.delete(keys.fast_eval_pending)
    interval_ms = int(settings.alerts.fast_evaluation_min_interval_seconds * 1000)
    if interval_ms > 0:
        pipe.set(keys.fast_eval_throttle, "1", px=interval_ms)
    pipe.execute()
