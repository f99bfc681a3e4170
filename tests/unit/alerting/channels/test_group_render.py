"""Every channel renders a grouped message (a storm, alerting/grouping.py) within its API's limits."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphwiz_monitoring.alerting.channels.discord import DiscordChannel
from graphwiz_monitoring.alerting.channels.email import EmailChannel, build_group_message
from graphwiz_monitoring.alerting.channels.log import LOGGER_NAME, LogChannel
from graphwiz_monitoring.alerting.channels.render import GroupView
from graphwiz_monitoring.alerting.channels.slack import SlackChannel
from graphwiz_monitoring.alerting.channels.telegram import MESSAGE_MAX_CHARS, TelegramChannel
from graphwiz_monitoring.alerting.channels.webhook import WebhookChannel
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity
from graphwiz_monitoring.config import (
    DiscordSettings,
    EmailSettings,
    LogSettings,
    SlackSettings,
    TelegramSettings,
    WebhookSettings,
)
from tests.fakes.chat_apis import DiscordFake, telegram_parse_html

EXCHANGES = [f"ex{i:02d}" for i in range(19)]


def storm(kind: str = "firing", n: int = 19) -> list[tuple[Alert, str]]:
    return [(Alert(rule_name="exchange_disconnect", title=f"Exchange {ex} disconnected",
                   message=f"Lost connection to exchange {ex}", labels={"exchange": ex},
                   severity=AlertSeverity.EMERGENCY if i == 3 else AlertSeverity.CRITICAL,
                   created_at=1_700_000_000.0 + i), kind) for i, ex in enumerate((EXCHANGES * 10)[:n])]


def test_group_view_headline_severity_and_lines() -> None:
    view = GroupView(storm())
    assert view.headline == "19 alerts firing: exchange_disconnect" and view.severity == "EMERGENCY"
    assert view.lines(10_000) == [f"• Exchange {ex} disconnected" for ex in EXCHANGES]
    short = view.lines(100)
    assert short[-1].startswith("… and ") and sum(len(x) + 1 for x in short) <= 100 + 20
    assert GroupView(storm("resolved")).headline == "[RESOLVED] 19 alerts resolved: exchange_disconnect"
    assert GroupView(storm("repeat-2")).headline == "19 alerts still firing: exchange_disconnect"


def test_discord_group_embed_names_every_alert_and_is_valid() -> None:
    channel = DiscordChannel(DiscordSettings(webhook_url="http://127.0.0.1:9/api/webhooks/1/SECRET"))
    payload = channel.group_payload(storm())
    assert DiscordFake.embed_problems(payload) == [] and payload["allowed_mentions"] == {"parse": []}
    assert all(f"Exchange {ex} disconnected" in payload["embeds"][0]["description"] for ex in EXCHANGES)
    huge = channel.group_payload(storm(n=600))
    assert DiscordFake.embed_problems(huge) == [] and "more" in huge["embeds"][0]["description"].splitlines()[-1]


def test_slack_group_attachment() -> None:
    payload = SlackChannel(SlackSettings(webhook_url="http://127.0.0.1:9/s")).group_payload(storm())
    (attachment,) = payload["attachments"]
    assert attachment["title"] == "19 alerts firing: exchange_disconnect" and attachment["color"] == "#9B59B6"
    assert all(f"Exchange {ex} disconnected" in attachment["text"] for ex in EXCHANGES)


@settings(max_examples=40, deadline=None)
@given(titles=st.lists(st.text(max_size=400), min_size=2, max_size=80))
def test_telegram_group_text_is_valid_html_within_the_limit(titles) -> None:
    items = [(Alert(rule_name="r<&>", title=t, message="m", severity=AlertSeverity.WARNING), "firing") for t in titles]
    text = TelegramChannel(TelegramSettings(bot_token="1:abc", chat_id=1)).group_payload(items)["text"]
    assert len(telegram_parse_html(text)) <= MESSAGE_MAX_CHARS


def test_telegram_group_names_every_exchange() -> None:
    text = TelegramChannel(TelegramSettings(bot_token="1:abc", chat_id=1)).group_payload(storm())["text"]
    plain = telegram_parse_html(text)
    assert plain.startswith("[EMERGENCY] 19 alerts firing: exchange_disconnect")
    assert all(f"Exchange {ex} disconnected" in plain for ex in EXCHANGES)


def test_webhook_group_body_is_a_list_of_alert_bodies() -> None:
    channel = WebhookChannel(WebhookSettings(url="http://127.0.0.1:9/h", secret="k" * 16))
    body, headers = channel.signed({"x": 1})
    assert headers["X-Graphwiz-Signature"].startswith("sha256=")
    from graphwiz_monitoring.alerting.channels.webhook import build_group_payload

    data = json.loads(json.dumps(build_group_payload(GroupView(storm())), default=str))
    assert data["group"] is True and data["count"] == 19 and data["kind"] == "firing"
    assert data["severity"] == "emergency" and data["rules"] == ["exchange_disconnect"]
    assert [a["labels"]["exchange"] for a in data["alerts"]] == EXCHANGES
    assert {a["kind"] for a in data["alerts"]} == {"firing"} and all(a["alert_id"] for a in data["alerts"])


def test_email_group_message_lists_every_alert_escaped() -> None:
    items = storm()
    items[0][0].title = "<b>x</b> & y"
    msg = build_group_message(GroupView(items), EmailSettings(smtp_server="h", **{"from": "a@b.c"}, to=["d@e.f"]))
    assert msg["Subject"] == "[EMERGENCY] 19 alerts firing: exchange_disconnect"
    plain = msg.get_body(("plain",)).get_content()
    html_part = msg.get_body(("html",)).get_content()
    assert all(f"Exchange {ex} disconnected" in plain and f"Exchange {ex} disconnected" in html_part
               for ex in EXCHANGES[1:])
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in html_part and "<b>x</b>" not in html_part
    assert isinstance(EmailChannel(EmailSettings(smtp_server="h", **{"from": "a@b.c"}, to=["d@e.f"])), EmailChannel)


def test_log_group_is_one_record_naming_every_alert(caplog: pytest.LogCaptureFixture) -> None:
    items = storm()
    items[1][0].message = "two\nlines"
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        LogChannel(LogSettings()).send_group(items)
    (record,) = caplog.records
    text = record.getMessage()
    assert text.startswith("ALERT GROUP [EMERGENCY] 19 alerts firing: exchange_disconnect: ")
    assert all(f"exchange={ex}" in text for ex in EXCHANGES) and "\n" not in text
