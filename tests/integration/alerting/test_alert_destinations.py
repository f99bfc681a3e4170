"""Named destinations in delivery (real Redis, loopback receivers): each has its own idempotency record,
rate limit, counts and dead letters, and its URL never shows in a reason, a dead letter or a log line."""

from __future__ import annotations

import logging

from graphwiz_monitoring.alerting.delivery import deliver_notification, read_notification_counts
from graphwiz_monitoring.alerting.models import AlertChannel
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.state.dead_letters import list_dead_letters
from tests.fakes.notify_fixtures import ALL_SECRETS, deliver_until_done, put_alert


def test_each_destination_is_delivered_limited_and_dead_lettered_on_its_own(redis_url, store, keys, webhook_receiver,
                                                                            caplog) -> None:
    broken = webhook_receiver.url.replace("/hooks/", "/wrong/")  # the receiver answers 401 there: final
    settings = parse_settings({"redis": {"url": redis_url}, "notifications": {"webhook": {
        "url": webhook_receiver.url, "rate_limit": {"count": 1, "per_seconds": 60}, "max_retries": 0,
        "destinations": {"pager": {"url": webhook_receiver.url}, "broken": {"url": broken}}}}}, env={})
    alert = put_alert(store, keys, title="Disk full")
    with caplog.at_level(logging.DEBUG):
        assert deliver_notification(store, keys, settings, alert.alert_id, "webhook", "firing").outcome == "sent"
        # its own bucket: the default destination's spent token does not hold the pager back
        assert deliver_notification(store, keys, settings, alert.alert_id, "webhook:pager", "firing").outcome == "sent"
        assert deliver_notification(store, keys, settings, alert.alert_id, "webhook:pager", "firing").outcome == \
            "duplicate"
        results = deliver_until_done(store, keys, settings, alert.alert_id, "webhook:broken")
    assert results[-1].outcome == "dead_lettered"
    assert len(webhook_receiver.delivered()) == 2
    counts = read_notification_counts(store, keys)
    assert counts[("webhook", "sent")] == 1 and counts[("webhook:pager", "sent")] == 1
    assert counts[("webhook:broken", "dead_lettered")] == 1
    (dead,) = list_dead_letters(store, keys)
    assert dead["payload"]["channel"] == "webhook:broken" and "401" in dead["reason"]
    shown = " ".join([str(dead), results[-1].reason, caplog.text])
    assert not any(secret in shown for secret in ALL_SECRETS) and "/wrong/" not in shown


def test_a_destination_this_deployment_lacks_is_undeliverable_not_lost(redis_url, store, keys) -> None:
    settings = parse_settings({"redis": {"url": redis_url}}, env={})
    alert = put_alert(store, keys, title="Somewhere else", channels=[AlertChannel.TELEGRAM])
    result = deliver_notification(store, keys, settings, alert.alert_id, "telegram:ops", "firing")
    assert result.outcome == "undeliverable"
    assert store.r.hget(keys.notifications_undeliverable, "telegram:ops") == "1"
