"""Discord through the delivery library against a loopback Discord: payload, 204/200, 429, 4xx, 5xx."""

from __future__ import annotations

import json
import logging
import time

from graphwiz_monitoring.alerting.delivery import (
    DEAD_LETTERED,
    DEFERRED,
    DUPLICATE,
    RETRY,
    SENT,
    deliver_notification,
    read_notification_counts,
)
from graphwiz_monitoring.alerting.models import AlertSeverity
from graphwiz_monitoring.state.dead_letters import list_dead_letters
from tests.fakes.chat_apis import DISCORD_TOKEN
from tests.fakes.notify_fixtures import make_settings, notifications_config, put_alert


def test_embed_arrives_field_by_field_and_is_sent_once(store, keys, redis_url, discord_fake):
    settings = make_settings(redis_url, notifications_config(discord=discord_fake))
    alert = put_alert(store, keys, rule_name="exchange_disconnect", title="Exchange binance down",
                      message="@everyone binance unreachable", severity=AlertSeverity.CRITICAL,
                      labels={"exchange": "binance"}, metadata={"attempts": 3}, created_at=1_700_000_000.0)

    assert deliver_notification(store, keys, settings, alert.alert_id, "discord").outcome == SENT
    (req,) = discord_fake.received()
    assert (req.method, req.status) == ("POST", 204)
    assert req.path == f"/api/webhooks/{discord_fake.WEBHOOK_ID}/{DISCORD_TOKEN}"
    assert req.headers["Content-Type"] == "application/json"
    payload = req.json
    assert payload["allowed_mentions"] == {"parse": []}
    (embed,) = payload["embeds"]
    assert embed["title"] == "Exchange binance down"
    assert embed["description"] == "@everyone binance unreachable"
    assert embed["color"] == 0xFF0000
    assert embed["fields"] == [{"name": "exchange", "value": "binance", "inline": True},
                               {"name": "attempts", "value": "3", "inline": True}]
    assert embed["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert embed["footer"]["text"] == "Severity: CRITICAL | rule exchange_disconnect"

    # A redelivered task does not send again; the resolved notification is a separate one.
    assert deliver_notification(store, keys, settings, alert.alert_id, "discord").outcome == DUPLICATE
    assert deliver_notification(store, keys, settings, alert.alert_id, "discord", "resolved").outcome == SENT
    first, second = discord_fake.received()
    assert second.json["embeds"][0]["title"] == "\\[RESOLVED\\] Exchange binance down"
    assert read_notification_counts(store, keys) == {("discord", "sent"): 2}


def test_200_with_wait_true_is_success(store, keys, redis_url, discord_fake):
    config = notifications_config(discord=discord_fake)
    config["discord"]["webhook_url"] += "?wait=true"
    settings = make_settings(redis_url, config)
    alert = put_alert(store, keys)
    assert deliver_notification(store, keys, settings, alert.alert_id, "discord").outcome == SENT
    assert [r.status for r in discord_fake.received()] == [200]


def test_429_pauses_the_whole_channel_for_retry_after(store, keys, redis_url, discord_fake):
    settings = make_settings(redis_url, notifications_config(discord=discord_fake))
    first, other = put_alert(store, keys), put_alert(store, keys)
    discord_fake.throttle(1, 0.6)  # Retry-After: 1 (whole seconds), X-RateLimit-Reset-After: 0.600

    result = deliver_notification(store, keys, settings, first.alert_id, "discord")
    assert result.outcome == RETRY and 1.0 <= result.retry_in <= 1.2
    assert result.reason == "discord: HTTP 429 (You are being rate limited.)"
    held = deliver_notification(store, keys, settings, other.alert_id, "discord")
    assert held.outcome == DEFERRED and 0.5 < held.retry_in <= 1.2
    assert len(discord_fake.received()) == 1  # the paused channel was not touched

    time.sleep(held.retry_in)
    assert deliver_notification(store, keys, settings, other.alert_id, "discord").outcome == SENT
    assert deliver_notification(store, keys, settings, first.alert_id, "discord").outcome == SENT
    arrivals = [r.arrived for r in discord_fake.received()]
    assert arrivals[1] - arrivals[0] >= 1.0


def test_invalid_token_is_final_dead_lettered_and_logged_without_the_token(store, keys, redis_url, discord_fake,
                                                                           caplog):
    caplog.set_level(logging.DEBUG)
    config = notifications_config(discord=discord_fake)
    config["discord"]["webhook_url"] = config["discord"]["webhook_url"].replace(DISCORD_TOKEN, DISCORD_TOKEN + "x")
    settings = make_settings(redis_url, config)
    alert = put_alert(store, keys, title="Risk breach")

    result = deliver_notification(store, keys, settings, alert.alert_id, "discord")
    assert result.outcome == DEAD_LETTERED and result.reason == "discord: HTTP 401 (Invalid Webhook Token)"
    assert len(discord_fake.received()) == 1  # no retry on 4xx
    (entry,) = list_dead_letters(store, keys)
    assert entry["kind"] == "notification" and entry["reason"] == result.reason
    assert entry["payload"] == {"alert_id": alert.alert_id, "channel": "discord", "kind": "firing", "failures": 1,
                                "rule": "test_rule", "severity": "warning", "title": "Risk breach"}
    notice = [r for r in caplog.records if r.name == "graphwiz_monitoring.alerts"]
    assert notice and notice[0].levelno == logging.ERROR and "Risk breach" in notice[0].getMessage()
    assert "SECRET-discord-token" not in caplog.text + json.dumps(entry)
    # Dead means dead: a redelivered task does not send again.
    assert deliver_notification(store, keys, settings, alert.alert_id, "discord").outcome == DUPLICATE


def test_5xx_is_retried_with_backoff_then_dead_lettered(store, keys, redis_url, discord_fake):
    settings = make_settings(redis_url, notifications_config(discord=discord_fake, retry={"max_retries": 2}))
    alert = put_alert(store, keys)
    discord_fake.down(502)
    outcomes = []
    for _ in range(3):
        result = deliver_notification(store, keys, settings, alert.alert_id, "discord")
        outcomes.append(result.outcome)
        if result.retry_in:
            assert 0.0 < result.retry_in <= 0.5  # backoff, capped by retry_backoff_max_seconds
            time.sleep(result.retry_in)
    assert outcomes == [RETRY, RETRY, DEAD_LETTERED]
    assert len(discord_fake.received()) == 3
    (entry,) = list_dead_letters(store, keys)
    assert entry["reason"] == "discord: HTTP 502 (Internal Server Error) (gave up after 3 attempts)"
    counts = read_notification_counts(store, keys)
    assert counts[("discord", "failed")] == 3 and counts[("discord", "dead_lettered")] == 1
