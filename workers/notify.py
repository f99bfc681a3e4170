"""Celery task for the notify.<channel> queues: one task per (alert, channel, kind).

The arguments are ids and names only (Flower shows them): the alert is loaded from Redis and the
channel's URL/token from the settings. Retry decisions, dead letters and idempotency live in
graphwiz_monitoring.alerting.delivery; this task only re-queues itself after ``retry_in``.
"""

from __future__ import annotations

from graphwiz_monitoring import tasks
from graphwiz_monitoring.alerting.delivery import backoff_seconds, deliver_notification
from graphwiz_monitoring.celery import app, retry_countdown
from graphwiz_monitoring.celery.termination import deferred_termination
from graphwiz_monitoring.context import get_keys, get_settings, get_store
from graphwiz_monitoring.errors import DeliveryFailed, StateError
from graphwiz_monitoring.health.heartbeat import send_heartbeat

REDIS_RETRY_BASE_SECONDS = 1.0
REDIS_RETRY_MAX_SECONDS = 60.0


# max_retries=None: the library counts failed attempts in Redis (rate-limit waits are not failures)
# and dead-letters after notifications.<channel>.max_retries.
@app.task(bind=True, name=tasks.NOTIFY_DELIVER, max_retries=None, acks_late=True)
def deliver(self, alert_id: str, channel: str, kind: str = "firing") -> str:
    settings = get_settings()
    try:
        # Celery terminates this task if the broker connection drops (Redis restart, failover): not between
        # the send and its record, or the redelivery would send again (celery/termination.py).
        with deferred_termination():
            result = deliver_notification(get_store(settings), get_keys(settings), settings, alert_id, channel,
                                          kind, token=self.request.id)
    except StateError as exc:  # Redis unreachable: nothing decided yet, try again
        wait = backoff_seconds(self.request.retries + 1, REDIS_RETRY_BASE_SECONDS, REDIS_RETRY_MAX_SECONDS)
        raise self.retry(countdown=retry_countdown(wait, settings), exc=StateError(str(exc))) from None
    if result.retry_in is not None:
        # A reserved rate-limit slot may lie beyond the countdown cap: the task then comes back early,
        # finds its slot (kept in Redis) not yet due and waits the rest, without taking another.
        raise self.retry(countdown=retry_countdown(result.retry_in, settings),
                         exc=DeliveryFailed(result.reason or result.outcome, retryable=True))
    return result.outcome


@app.task(name=tasks.HEARTBEAT, max_retries=0)
def heartbeat() -> dict[str, object]:
    """Periodic: the dead-man's switch ping, only while the whole pipeline is alive (no retry: the next
    tick pings again, and a late ping would vouch for a pipeline that may have died meanwhile)."""
    settings = get_settings()
    return send_heartbeat(get_store(settings), get_keys(settings), settings).summary()
