"""Slack payload: attachment with colour, title, text, fields, "Severity: X" footer; &, <, > escaped."""

from __future__ import annotations

from graphwiz_monitoring.alerting.channels.slack import SlackChannel, escape
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity
from graphwiz_monitoring.config import SlackSettings

CHANNEL = SlackChannel(SlackSettings(webhook_url="http://127.0.0.1:9/services/T/B/X"))


def test_attachment_fields_one_by_one():
    alert = Alert(rule_name="large_loss", title="Large loss", message="Drawdown 12%", severity=AlertSeverity.CRITICAL,
                  labels={"exchange": "binance"}, metadata={"drawdown": 0.12}, created_at=1_700_000_000.5)
    (att,) = CHANNEL.payload(alert, "firing")["attachments"]
    assert att == {
        "fallback": "[CRITICAL] Large loss",
        "color": "#FF0000",
        "title": "Large loss",
        "text": "Drawdown 12%",
        "fields": [{"title": "exchange", "value": "binance", "short": True},
                   {"title": "drawdown", "value": "0.12", "short": True}],
        "footer": "Severity: CRITICAL",
        "ts": 1_700_000_000,
    }


def test_resolved_is_marked_and_green():
    alert = Alert(rule_name="r", title="Large loss", message="m", severity=AlertSeverity.CRITICAL)
    (att,) = CHANNEL.payload(alert, "resolved")["attachments"]
    assert att["title"] == "[RESOLVED] Large loss" and att["color"] == "#2ECC71"
    assert att["fallback"].startswith("[RESOLVED]")


def test_control_characters_are_escaped_everywhere():
    alert = Alert(rule_name="r", title="<!channel> & <script>", message="<http://evil|click> & co",
                  severity=AlertSeverity.INFO, labels={"<k>": "<v&>"})
    (att,) = CHANNEL.payload(alert, "firing")["attachments"]
    for text in (att["title"], att["text"], att["fallback"], att["fields"][0]["title"], att["fields"][0]["value"]):
        assert "<" not in text and ">" not in text
    assert att["title"] == "&lt;!channel&gt; &amp; &lt;script&gt;"
    assert escape("a&b") == "a&amp;b"
