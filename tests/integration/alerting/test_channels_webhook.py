"""Generic webhook through the delivery library: JSON document, signature, custom headers, timeouts."""

from __future__ import annotations

from graphwiz_monitoring.alerting.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from graphwiz_monitoring.alerting.delivery import RETRY, SENT, deliver_notification
from graphwiz_monitoring.alerting.models import AlertSeverity
from tests.fakes.notify_fixtures import (
    WEBHOOK_HEADER_SECRET,
    WEBHOOK_SECRET,
    deliver_until_done,
    make_settings,
    notifications_config,
    put_alert,
)


def test_document_signature_and_headers(store, keys, redis_url, webhook_receiver):
    settings = make_settings(redis_url, notifications_config(webhook=webhook_receiver))
    alert = put_alert(store, keys, rule_name="disk_space", title="Disk / 93%", message="clean up <now>",
                      severity=AlertSeverity.WARNING, labels={"mount": "/"}, metadata={"percent": 93.1},
                      created_at=1_700_000_000.0)
    assert deliver_notification(store, keys, settings, alert.alert_id, "webhook").outcome == SENT
    (req,) = webhook_receiver.received()
    assert req.path == webhook_receiver.PATH and req.headers["Content-Type"] == "application/json"
    assert req.json == {"title": "Disk / 93%", "message": "clean up <now>", "severity": "warning",
                        "timestamp": "2023-11-14T22:13:20+00:00", "metadata": {"percent": 93.1},
                        "labels": {"mount": "/"}, "alert_id": alert.alert_id, "rule": "disk_space",
                        "state": "firing", "kind": "firing"}
    assert req.headers["Authorization"] == f"Bearer {WEBHOOK_HEADER_SECRET}" and req.headers["X-Env"] == "test"
    assert req.headers[SIGNATURE_HEADER].startswith("sha256=") and req.headers[TIMESTAMP_HEADER].isdigit()
    assert verify_signature(WEBHOOK_SECRET, req.body, req.headers)
    assert not verify_signature("wrong", req.body, req.headers)

    assert deliver_notification(store, keys, settings, alert.alert_id, "webhook", "resolved").outcome == SENT
    resolved = webhook_receiver.received()[1]
    assert resolved.json["state"] == "resolved" and resolved.json["kind"] == "resolved"
    assert verify_signature(WEBHOOK_SECRET, resolved.body, resolved.headers)


def test_hang_times_out_and_is_retried(store, keys, redis_url, webhook_receiver):
    settings = make_settings(redis_url, notifications_config(webhook=webhook_receiver,
                                                             retry={"timeout_seconds": 0.3}))
    alert = put_alert(store, keys)
    webhook_receiver.hang(1, 2.0)
    webhook_receiver.fail(1, 503)
    results = deliver_until_done(store, keys, settings, alert.alert_id, "webhook")
    assert [r.outcome for r in results] == [RETRY, RETRY, SENT]
    assert results[0].reason == "webhook: timed out after 0.3s"
    assert results[1].reason == "webhook: HTTP 503"
    assert [r.status for r in webhook_receiver.received()] == [None, 503, 200]
