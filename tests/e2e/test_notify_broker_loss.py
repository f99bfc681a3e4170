"""A notification being sent when the worker loses its broker connection (a Redis restart or failover) is
sent once.

Celery terminates every running late-acknowledged task when the broker connection drops
(``worker_cancel_long_running_tasks_on_connection_loss``) and the broker hands it out again. A
notification task terminated after its request reached the API and before its record was marked done
was sent a second time by the redelivery (seen in tests/chaos/test_sentinel_failover.py: one alert of
five notified twice). The worker now holds the termination off until the send is recorded
(celery/termination.py).

Here: a webhook that answers after 2 s; Redis is restarted while the request is open.
"""

from __future__ import annotations

import time

import pytest

from graphwiz_monitoring.alerting.delivery import read_notification_counts
from graphwiz_monitoring.alerting.models import AlertChannel
from tests.conftest import wait_until
from tests.fakes.chat_apis import WebhookReceiver
from tests.fakes.http import Recorded, Reply
from tests.fakes.notify_fixtures import config_yaml, enqueue, make_settings, notifications_config, put_alert

pytestmark = pytest.mark.e2e

ANSWER_AFTER_SECONDS = 2.0


class SlowWebhook(WebhookReceiver):
    """Accepts every notification, ANSWER_AFTER_SECONDS after it arrived."""

    def respond(self, req: Recorded) -> Reply:
        time.sleep(ANSWER_AFTER_SECONDS)
        return super().respond(req)


def test_send_in_flight_when_the_broker_connection_drops_is_sent_once(celery_processes, redis_server, redis_url,
                                                                      store, keys) -> None:
    webhook = SlowWebhook().start()
    try:
        notifications = notifications_config(webhook=webhook, retry={"timeout_seconds": 5})
        worker = celery_processes("worker", "-Q", "notify.webhook", "-c", "1", "--loglevel", "INFO",
                                  "--without-mingle", "--without-gossip", config_extra=config_yaml(notifications))
        alert = put_alert(store, keys, channels=[AlertChannel.WEBHOOK])
        enqueue(make_settings(redis_url, notifications), alert.alert_id, "webhook")
        wait_until(lambda: webhook.received(), timeout=20, message="the notification's request sent")
        redis_server.restart()  # the worker's broker connection drops while the request is open
        wait_until(lambda: "cannot be acknowledged after a connection loss" in worker.output(), timeout=20,
                   message="Celery to cancel the running task")
        wait_until(lambda: read_notification_counts(store, keys).get(("webhook", "sent")) == 1, timeout=30,
                   message="the send recorded")
        wait_until(lambda: "'duplicate'" in worker.output() or len(webhook.received()) > 1, timeout=30,
                   message="the redelivered task to finish")
        assert [r.json["alert_id"] for r in webhook.received()] == [alert.alert_id]
        assert worker.alive()
    finally:
        webhook.stop()
