"""Telegram through the delivery library against a loopback Bot API: HTML accepted, 429 retry_after, 401."""

from __future__ import annotations

import html
import json

from graphwiz_monitoring.alerting.delivery import DEAD_LETTERED, RETRY, SENT, deliver_notification
from graphwiz_monitoring.alerting.models import AlertSeverity
from graphwiz_monitoring.state.dead_letters import list_dead_letters
from tests.fakes.chat_apis import TELEGRAM_TOKEN, TelegramFake, telegram_parse_html
from tests.fakes.notify_fixtures import deliver_until_done, make_settings, notifications_config, put_alert


def test_message_is_valid_escaped_html(store, keys, redis_url, telegram_fake):
    config = notifications_config(telegram=telegram_fake)
    config["telegram"]["api_base"] += "/"  # a trailing slash in api_base is fine
    settings = make_settings(redis_url, config)
    alert = put_alert(store, keys, rule_name="risk_limit_breach", title="Leverage <3.5x> _now_ *!*",
                      message="[click](http://x) & <script>alert(1)</script>", severity=AlertSeverity.EMERGENCY,
                      labels={"account": "main_1"}, created_at=1_700_000_000.0)
    assert deliver_notification(store, keys, settings, alert.alert_id, "telegram").outcome == SENT
    (req,) = telegram_fake.received()
    assert req.path == f"/bot{TELEGRAM_TOKEN}/sendMessage" and req.status == 200
    body = req.json
    assert body["chat_id"] == "-1001234" and body["parse_mode"] == "HTML"
    assert body["text"].startswith("<b>[EMERGENCY] Leverage &lt;3.5x&gt; _now_ *!*</b>\n")
    assert html.escape("[click](http://x) & <script>alert(1)</script>", quote=False) in body["text"]
    assert "<b>account</b>: main_1" in body["text"]
    assert "<script>" not in body["text"]
    shown = telegram_parse_html(body["text"])  # what the chat shows: the original text, literally
    assert "Leverage <3.5x> _now_ *!*" in shown and "[click](http://x) & <script>alert(1)</script>" in shown


def test_long_message_fits_4096(store, keys, redis_url, telegram_fake):
    settings = make_settings(redis_url, notifications_config(telegram=telegram_fake))
    alert = put_alert(store, keys, message="<&>" * 5000)
    assert deliver_notification(store, keys, settings, alert.alert_id, "telegram").outcome == SENT
    assert len(telegram_fake.received()[0].json["text"]) <= 4096


def test_429_body_retry_after_is_honoured(store, keys, redis_url, telegram_fake):
    settings = make_settings(redis_url, notifications_config(telegram=telegram_fake))
    alert = put_alert(store, keys)
    telegram_fake.throttle(1, 1)
    results = deliver_until_done(store, keys, settings, alert.alert_id, "telegram")
    assert results[0].outcome == RETRY and results[0].retry_in >= 1.0
    assert results[0].reason == "telegram: HTTP 429 (Too Many Requests: retry after 1)"
    assert results[-1].outcome == SENT
    throttled, delivered = telegram_fake.received()
    assert delivered.arrived - throttled.arrived >= 1.0


def test_wrong_token_is_final_and_never_shown(store, keys, redis_url):
    fake = TelegramFake(token="999:OTHER").start()
    try:
        settings = make_settings(redis_url, notifications_config(telegram=fake))
        alert = put_alert(store, keys)
        result = deliver_notification(store, keys, settings, alert.alert_id, "telegram")
    finally:
        fake.stop()
    assert result.outcome == DEAD_LETTERED and result.reason == "telegram: HTTP 401 (Unauthorized)"
    assert TELEGRAM_TOKEN not in json.dumps(list_dead_letters(store, keys))
