"""The bot's pure pieces: command parsing, access lists, callback data, HTML escaping and rebuilding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphwiz_monitoring.alerting.channels.telegram import TelegramChannel
from graphwiz_monitoring.alerting.channels.telegram_buttons import (
    ACK,
    PAUSE,
    SILENCE,
    alert_keyboard,
    callback_data,
    parse_callback_data,
)
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity
from graphwiz_monitoring.chat import views
from graphwiz_monitoring.chat.access import Sender, allowed
from graphwiz_monitoring.chat.actions import CommandError
from graphwiz_monitoring.chat.commands import parse
from graphwiz_monitoring.chat.html import entities_html
from graphwiz_monitoring.config import TelegramSettings, parse_settings
from graphwiz_monitoring.errors import ConfigError
from tests.fakes.chat_apis import telegram_parse_html
from tests.fakes.telegram_bot_api import html_entities

NASTY = "<b>Eve</b> & <script>alert(1)</script> &amp; 🚀"


def test_commands_are_parsed_with_the_bot_suffix_and_arguments():
    assert parse("/status") == ("status", [])
    assert parse("/Daily@graphwiz_bot 3") == ("daily", ["3"])
    assert parse("/ack 1a2b  a comment ") == ("ack", ["1a2b", "a", "comment"])
    assert parse("hello /status") is None


@pytest.mark.parametrize("chats,users,chat,user,expected", [
    ([], [], "1", "1", False),  # nobody configured: nobody allowed
    (["-100"], [], "-100", "7", True),  # everyone in an allowed chat
    (["-100"], [], "-200", "7", False),
    ([], ["7"], "-200", "7", True),  # an allowed user anywhere
    ([], ["7"], "-100", "8", False),
    (["-100"], ["7"], "-100", "8", False),  # both lists set: both must match
    (["-100"], ["7"], "-200", "7", False),
    (["-100"], ["7"], "-100", "7", True),
])
def test_access_lists(chats, users, chat, user, expected):
    settings = TelegramSettings(bot_token="1:a", allowed_chat_ids=chats, allowed_user_ids=users)
    assert allowed(settings, Sender(chat, user)) is expected


def test_ids_may_be_numbers_in_yaml_and_bad_ones_name_the_key():
    settings = parse_settings({"notifications": {"telegram": {"bot_token": "1:a", "allowed_chat_ids": [-1001, "5"],
                                                              "allowed_user_ids": 42}}}, env={})
    telegram = settings.notifications.telegram
    assert telegram.allowed_chat_ids == ["-1001", "5"] and telegram.allowed_user_ids == ["42"]
    assert telegram.bot_configured
    assert not TelegramSettings(bot_token="1:a").bot_configured  # a token alone: alerts only, no bot
    with pytest.raises(ConfigError, match="allowed_chat_ids"):
        parse_settings({"notifications": {"telegram": {"allowed_chat_ids": {"a": 1}}}}, env={})


def test_sender_actor_prefers_the_username():
    assert Sender.of({"id": -5}, {"id": 7, "username": "ops_anna", "first_name": "Anna"}).actor == "telegram:ops_anna"
    assert Sender.of({"id": -5}, {"id": 7, "username": "ops_anna"}).display == "@ops_anna"
    plain = Sender.of({"id": -5}, {"id": 7, "first_name": "<Anna>"})
    assert plain.actor == "telegram:7" and plain.display == "<Anna>"  # a first name is no identity


def test_callback_data_round_trip_and_limit():
    alert_id = "f" * 32
    for action in (ACK, SILENCE, PAUSE):
        assert parse_callback_data(callback_data(action, alert_id)) == (action, alert_id)
    assert parse_callback_data("rm -rf:x") == ("", "")
    with pytest.raises(ValueError, match="64 bytes"):
        callback_data(ACK, "x" * 64)
    rows = alert_keyboard(alert_id, without=(ACK,))["inline_keyboard"]
    assert [b["text"] for b in rows[0]] == ["Silence 1 h", "Pause trading"]


def test_alert_messages_carry_buttons_only_when_the_bot_is_configured():
    alert = Alert(rule_name="r", title="t", message="m", severity=AlertSeverity.CRITICAL)
    with_bot = TelegramChannel(TelegramSettings(bot_token="1:a", chat_id="-5", allowed_chat_ids=["-5"]))
    keyboard = with_bot.payload(alert, "firing")["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in keyboard] == [f"ack:{alert.alert_id}", f"silence:{alert.alert_id}",
                                                       f"pause:{alert.alert_id}"]
    assert "reply_markup" in with_bot.payload(alert, "repeat-2")
    assert "reply_markup" not in with_bot.payload(alert, "resolved")
    assert "reply_markup" not in TelegramChannel(TelegramSettings(bot_token="1:a", chat_id="-5")).payload(alert, "firing")


@settings(max_examples=60, deadline=None)
@given(title=st.text(max_size=80), message=st.text(max_size=200))
def test_an_alert_message_is_rebuilt_from_text_and_entities(title, message):
    """What a callback_query carries (plain text + UTF-16 entities) becomes the HTML the channel sent."""
    alert = Alert(rule_name="r<1>", title=title + " 🚀", message=message, severity=AlertSeverity.WARNING,
                  labels={"ex": "a&b"})
    sent = TelegramChannel(TelegramSettings(bot_token="1:a", chat_id="-5")).payload(alert, "firing")["text"]
    plain, entities = html_entities(sent)
    assert entities_html(plain, entities) == sent


def test_overlapping_or_unknown_entities_fall_back_to_plain_text():
    text = "abc <def>"
    assert entities_html(text, [{"type": "bold", "offset": 0, "length": 3}, {"type": "italic", "offset": 1,
                                                                             "length": 2}]) == "<b>abc</b> &lt;def&gt;"
    assert entities_html(text, [{"type": "text_link", "offset": 0, "length": 3, "url": "x"}]) == "abc &lt;def&gt;"


def test_views_escape_every_outside_value():
    alert = {"alert_id": "abcdef0123", "severity": "critical", "title": NASTY, "rule_name": "<r>",
             "created_at": 1_700_000_000, "acknowledged_by": "telegram:<x>"}
    snapshot = {"unavailable": {}, "alerts": [alert], "trading": {"paused": True, "by": "<me>", "reason": NASTY},
                "metrics": {"trading": {"pnl_usd": -12.5}, "traders": {"<t>": {"stale": True}}},
                "health": {"status": "<ok>", "checks": {"<c>": {"status": "<s>", "message": NASTY,
                                                                 "breaker": {"state": "open"}}},
                           "trader": {"host": "<h>", "pid": 1, "age_seconds": 3}}}
    for text in (views.status_text(snapshot), views.alerts_text(snapshot), views.health_text(snapshot),
                 views.profit_text(snapshot), views.daily_text([{"day": "<d>", "pnl_usd": 1.0, "trades": 2}])):
        plain = telegram_parse_html(text)  # Telegram would accept it
        assert "<script>" not in text
    assert NASTY in telegram_parse_html(views.status_text(snapshot))
    assert "P&L: -$12.50 total" in telegram_parse_html(views.status_text(snapshot))
    assert telegram_parse_html(views.help_text()).count("\n/") >= 9
    down = views.status_text({"unavailable": {"alerts": "Redis <down>", "metrics": "x", "trading": "x"}})
    assert "alerts unavailable: Redis <down>" in telegram_parse_html(down)
    assert plain


def test_long_lists_are_cut_at_a_line_boundary():
    alerts = [{"alert_id": f"{i:032x}", "severity": "info", "title": "t" * 300, "rule_name": "r"} for i in range(200)]
    text = views.alerts_text({"unavailable": {}, "alerts": alerts})
    assert len(text) <= views.MESSAGE_MAX_CHARS and telegram_parse_html(text)
    cut = views.fit("<b>line</b>\n" * 1000, 200)
    assert len(cut) <= 200 and cut.endswith("…") and telegram_parse_html(cut)


def test_command_errors_and_failures_become_replies_that_fit(caplog):
    from graphwiz_monitoring.chat.bot import TelegramBot
    from graphwiz_monitoring.chat.commands import Reply
    from graphwiz_monitoring.errors import StateError

    def fail(exc):
        def work() -> Reply:
            raise exc
        return work

    safely = TelegramBot._safely
    long = safely(None, fail(CommandError("unknown rule '<x>'; known: " + "&" * 9000))).text
    assert len(long) <= views.MESSAGE_MAX_CHARS and "unknown rule '<x>'" in telegram_parse_html(long)
    assert "Redis is unavailable: down &lt;now&gt;" in safely(None, fail(StateError("down <now>"))).text
    assert safely(None, fail(KeyError("<secret>"))).text == "⚠️ Failed (KeyError); the bot's log has the details."
    assert "command failed" in caplog.text
