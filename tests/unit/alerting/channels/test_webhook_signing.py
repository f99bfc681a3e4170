"""Webhook: JSON document, HMAC-SHA256 over "<timestamp>.<body>", custom headers, receiver verification."""

from __future__ import annotations

import hashlib
import hmac
import json

from graphwiz_monitoring.alerting.channels.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookChannel,
    verify_signature,
)
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity
from graphwiz_monitoring.config import WebhookSettings

NOW = 1_700_000_000.0


def _channel(**kw) -> WebhookChannel:
    return WebhookChannel(WebhookSettings.model_validate({"url": "http://127.0.0.1:9/hook", **kw}))


def _alert() -> Alert:
    return Alert(rule_name="large_loss", title="Loss", message="DD 11%", severity=AlertSeverity.CRITICAL,
                 labels={"account": "a"}, metadata={"drawdown": 0.11}, alert_id="abc", created_at=NOW)


def test_document_fields():
    body, headers = _channel().request(_alert(), "firing", now=NOW)
    assert json.loads(body) == {"title": "Loss", "message": "DD 11%", "severity": "critical",
                                "timestamp": "2023-11-14T22:13:20+00:00", "metadata": {"drawdown": 0.11},
                                "labels": {"account": "a"}, "alert_id": "abc", "rule": "large_loss",
                                "state": "firing", "kind": "firing"}
    assert headers["Content-Type"] == "application/json"
    assert SIGNATURE_HEADER not in headers  # no secret, no signature
    resolved = json.loads(_channel().request(_alert(), "resolved", now=NOW)[0])
    assert resolved["state"] == "resolved" and resolved["kind"] == "resolved"


def test_signature_is_hmac_of_timestamp_and_body():
    body, headers = _channel(secret="k3y").request(_alert(), "firing", now=NOW)
    assert headers[TIMESTAMP_HEADER] == str(int(NOW))
    expected = hmac.new(b"k3y", f"{int(NOW)}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert verify_signature("k3y", body, headers, now=NOW + 10)
    lower = {k.lower(): v for k, v in headers.items()}
    assert verify_signature("k3y", body, lower, now=NOW)


def test_verification_rejects_tampering_wrong_key_staleness_and_replayed_timestamps():
    body, headers = _channel(secret="k3y").request(_alert(), "firing", now=NOW)
    assert not verify_signature("k3y", body + b" ", headers, now=NOW)
    assert not verify_signature("other", body, headers, now=NOW)
    assert not verify_signature("k3y", body, headers, now=NOW + 301)  # captured and replayed later
    fresh = {**headers, TIMESTAMP_HEADER: str(int(NOW + 600))}  # new timestamp, old signature
    assert not verify_signature("k3y", body, fresh, now=NOW + 600)
    assert not verify_signature("k3y", body, {}, now=NOW)
    assert not verify_signature("k3y", body, {**headers, TIMESTAMP_HEADER: "x"}, now=NOW)


def test_custom_headers_are_sent_but_cannot_override_the_signature():
    channel = _channel(secret="k3y", headers={"Authorization": "Bearer t", "x-graphwiz-signature": "forged"})
    body, headers = channel.request(_alert(), "firing", now=NOW)
    assert headers["Authorization"] == "Bearer t"
    assert "x-graphwiz-signature" not in headers and verify_signature("k3y", body, headers, now=NOW)
