"""Slack through the delivery library against a loopback Slack webhook: payload, escaping, 429, 4xx."""

from __future__ import annotations

from graphwiz_monitoring.alerting.delivery import DEAD_LETTERED, DEFERRED, RETRY, SENT, deliver_notification
from graphwiz_monitoring.alerting.models import AlertSeverity
from tests.fakes.chat_apis import SLACK_PATH
from tests.fakes.notify_fixtures import deliver_until_done, make_settings, notifications_config, put_alert


def test_attachment_arrives_field_by_field_escaped(store, keys, redis_url, slack_fake):
    settings = make_settings(redis_url, notifications_config(slack=slack_fake))
    alert = put_alert(store, keys, rule_name="high_memory", title="<!channel> memory <b>91%</b>",
                      message="host a&b > limit", severity=AlertSeverity.WARNING,
                      labels={"host": "<db1>"}, created_at=1_700_000_000.0)
    assert deliver_notification(store, keys, settings, alert.alert_id, "slack").outcome == SENT
    (req,) = slack_fake.received()
    assert req.path == SLACK_PATH and req.status == 200
    (att,) = req.json["attachments"]
    assert att["color"] == "#FF9500"
    assert att["title"] == "&lt;!channel&gt; memory &lt;b&gt;91%&lt;/b&gt;"
    assert att["text"] == "host a&amp;b &gt; limit"
    assert att["fields"] == [{"title": "host", "value": "&lt;db1&gt;", "short": True}]
    assert att["footer"] == "Severity: WARNING"
    assert att["ts"] == 1_700_000_000

    assert deliver_notification(store, keys, settings, alert.alert_id, "slack", "resolved").outcome == SENT
    assert slack_fake.received()[1].json["attachments"][0]["title"].startswith("[RESOLVED] ")


def test_429_retry_after_is_honoured(store, keys, redis_url, slack_fake):
    settings = make_settings(redis_url, notifications_config(slack=slack_fake))
    alert = put_alert(store, keys)
    slack_fake.throttle(1, 1)
    results = deliver_until_done(store, keys, settings, alert.alert_id, "slack")
    assert results[0].outcome == RETRY and results[0].retry_in >= 1.0
    assert all(r.outcome == DEFERRED for r in results[1:-1]) and results[-1].outcome == SENT
    throttled, delivered = slack_fake.received()
    assert throttled.status == 429 and delivered.status == 200
    assert delivered.arrived - throttled.arrived >= 1.0


def test_404_no_service_is_final(store, keys, redis_url, slack_fake):
    config = notifications_config(slack=slack_fake)
    config["slack"]["webhook_url"] = slack_fake.base_url + "/services/gone"
    settings = make_settings(redis_url, config)
    alert = put_alert(store, keys)
    result = deliver_notification(store, keys, settings, alert.alert_id, "slack")
    assert result.outcome == DEAD_LETTERED and result.reason == "slack: HTTP 404 (no_service)"
    assert len(slack_fake.received()) == 1
