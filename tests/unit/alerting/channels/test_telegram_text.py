"""Telegram text: HTML parse mode, every value escaped, Telegram's parser accepts it, ≤ 4096 chars."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from graphwiz_monitoring.alerting.channels.telegram import MESSAGE_MAX_CHARS, TelegramChannel
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity
from graphwiz_monitoring.config import TelegramSettings
from tests.fakes.chat_apis import telegram_parse_html

CHANNEL = TelegramChannel(TelegramSettings(bot_token="1:abc", chat_id=-100123, api_base="http://127.0.0.1:9/"))


def test_payload_and_url():
    alert = Alert(rule_name="risk_limit_breach", title="Leverage 3.5x", message="Reduce now",
                  severity=AlertSeverity.EMERGENCY, labels={"account": "main"}, created_at=1_700_000_000.0)
    payload = CHANNEL.payload(alert, "firing")
    assert payload["chat_id"] == "-100123" and payload["parse_mode"] == "HTML"
    assert payload["disable_web_page_preview"] is True
    assert payload["text"] == ("<b>[EMERGENCY] Leverage 3.5x</b>\nReduce now\n\n<b>account</b>: main\n\n"
                               "<i>rule risk_limit_breach | 2023-11-14T22:13:20+00:00</i>")
    assert CHANNEL.url() == "http://127.0.0.1:9/bot1:abc/sendMessage"


def test_specials_are_escaped_and_markdown_is_literal():
    alert = Alert(rule_name="r_1", title="<script>x</script> _a_ *b* [c]", message="a & b < c", severity=AlertSeverity.INFO)
    text = CHANNEL.payload(alert, "resolved")["text"]
    plain = telegram_parse_html(text)
    assert "[RESOLVED] [INFO] <script>x</script> _a_ *b* [c]" in plain
    assert "a & b < c" in plain
    assert "<script>" not in text


@settings(max_examples=80, deadline=None)
@given(title=st.text(max_size=600), message=st.text(max_size=9000),
       labels=st.dictionaries(st.text(max_size=50), st.text(max_size=500), max_size=40))
def test_any_alert_is_valid_html_within_the_limit(title, message, labels):
    alert = Alert(rule_name="r", title=title, message=message, severity=AlertSeverity.WARNING, labels=labels)
    text = CHANNEL.payload(alert, "firing")["text"]
    assert len(text) <= MESSAGE_MAX_CHARS
    telegram_parse_html(text)  # raises on anything Telegram would reject
