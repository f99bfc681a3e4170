"""Discord payload: one embed, severity colours, fields, no pings, always within Discord's limits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from graphwiz_monitoring.alerting.channels.discord import DiscordChannel, escape_markdown
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity
from graphwiz_monitoring.config import DiscordSettings
from tests.fakes.chat_apis import DiscordFake

CHANNEL = DiscordChannel(DiscordSettings(webhook_url="http://127.0.0.1:9/api/webhooks/1/tok"))


def _alert(**kw) -> Alert:
    base = {"rule_name": "high_cpu", "title": "High CPU", "message": "CPU at 95%", "severity": AlertSeverity.WARNING,
            "labels": {"host": "h1"}, "metadata": {"cpu_percent": 95.0}, "created_at": 1_700_000_000.0}
    return Alert(**{**base, **kw})


def test_embed_fields_one_by_one():
    payload = CHANNEL.payload(_alert(), "firing")
    assert payload["allowed_mentions"] == {"parse": []}
    assert "content" not in payload
    (embed,) = payload["embeds"]
    assert embed["title"] == "High CPU"
    assert embed["description"] == "CPU at 95%"
    assert embed["color"] == 0xFF9500
    assert embed["fields"] == [{"name": "host", "value": "h1", "inline": True},
                               {"name": "cpu\\_percent", "value": "95.0", "inline": True}]
    assert embed["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert embed["footer"] == {"text": "Severity: WARNING | rule high_cpu"}  # footers show no Markdown


def test_colour_per_severity_and_resolved():
    colours = {s: CHANNEL.payload(_alert(severity=s), "firing")["embeds"][0]["color"] for s in AlertSeverity}
    assert colours == {AlertSeverity.INFO: 0x3498DB, AlertSeverity.WARNING: 0xFF9500,
                       AlertSeverity.CRITICAL: 0xFF0000, AlertSeverity.EMERGENCY: 0x9B59B6}
    embed = CHANNEL.payload(_alert(resolved_at=1_700_000_060.0), "resolved")["embeds"][0]
    assert embed["title"] == "\\[RESOLVED\\] High CPU" and embed["color"] == 0x2ECC71
    assert embed["timestamp"] == "2023-11-14T22:14:20+00:00"


def test_markdown_and_mentions_are_inert():
    embed = CHANNEL.payload(_alert(title="@everyone _boom_ *now*", message="`x` ~~y~~ [a](b)"), "firing")["embeds"][0]
    assert embed["title"] == "@everyone \\_boom\\_ \\*now\\*"
    assert embed["description"] == "\\`x\\` \\~\\~y\\~\\~ \\[a\\](b)"
    assert escape_markdown("a\\b") == "a\\\\b"


def test_huge_alert_is_truncated_to_discords_limits():
    alert = _alert(title="T" * 1000, message="M" * 10_000,
                   labels={f"label{i}": "v" * 2000 for i in range(40)}, metadata={"k" * 400: "x"})
    payload = CHANNEL.payload(alert, "firing")
    assert DiscordFake.embed_problems(payload) == []
    embed = payload["embeds"][0]
    assert len(embed["title"]) == 256 and embed["title"].endswith("…")
    assert len(embed["fields"]) <= 25


@settings(max_examples=60, deadline=None)
@given(title=st.text(max_size=400), message=st.text(max_size=7000),
       labels=st.dictionaries(st.text(max_size=300), st.text(max_size=1500), max_size=30))
def test_any_alert_fits(title, message, labels):
    payload = CHANNEL.payload(_alert(title=title, message=message, labels=labels, metadata={}), "firing")
    assert DiscordFake.embed_problems(payload) == []
    assert all(f["name"] and f["value"] for f in payload["embeds"][0]["fields"])
