"""Real worker processes on the notify.* queues deliver one alert to every channel's loopback API.

The alert carries malicious content (@everyone, <script>, Markdown/Telegram specials): every channel
must receive it escaped for its own markup, the log channel must log it, a duplicated task must not
send twice, and no secret may appear in the worker's output.
"""

from __future__ import annotations

import pytest

from graphwiz_monitoring.alerting.channels.webhook import verify_signature
from graphwiz_monitoring.alerting.models import AlertSeverity
from graphwiz_monitoring.tasks import NOTIFY_QUEUES
from tests.conftest import wait_until
from tests.fakes.chat_apis import telegram_parse_html
from tests.fakes.notify_fixtures import (
    ALL_SECRETS,
    WEBHOOK_SECRET,
    config_yaml,
    enqueue,
    make_settings,
    notifications_config,
    put_alert,
)

pytestmark = pytest.mark.e2e

EVIL_TITLE = "@everyone <script>alert(1)</script> _under_ *star* [link](http://evil)"
EVIL_MESSAGE = "<b>bold</b> & <!channel> `code` ~strike~ @here"


def test_every_channel_receives_the_alert_escaped(celery_processes, redis_url, store, keys, discord_fake, slack_fake,
                                                  telegram_fake, webhook_receiver, smtp_server, smtp_cert):
    smtp = smtp_server("starttls")
    notifications = notifications_config(discord=discord_fake, slack=slack_fake, telegram=telegram_fake,
                                         webhook=webhook_receiver, smtp=smtp, cert=smtp_cert[0])
    worker = celery_processes("worker", "-Q", ",".join(NOTIFY_QUEUES), "-c", "2", "--loglevel", "INFO",
                              "--without-mingle", "--without-gossip", config_extra=config_yaml(notifications))
    settings = make_settings(redis_url, notifications)
    alert = put_alert(store, keys, rule_name="risk_limit_breach", title=EVIL_TITLE, message=EVIL_MESSAGE,
                      severity=AlertSeverity.EMERGENCY, labels={"account": "<main>"})
    for channel in ("discord", "slack", "email", "telegram", "webhook", "log"):
        enqueue(settings, alert.alert_id, channel)
    enqueue(settings, alert.alert_id, "webhook")  # a duplicated task: must not send twice
    enqueue(settings, alert.alert_id, "discord", "resolved")

    wait_until(lambda: len(discord_fake.delivered()) == 2 and slack_fake.delivered() and telegram_fake.delivered()
               and webhook_receiver.delivered() and smtp.received() and "ALERT [EMERGENCY]" in worker.output(),
               timeout=30, message="every channel delivered")

    firing, resolved = sorted(discord_fake.delivered(), key=lambda r: "RESOLVED" in r.body.decode())
    embed = firing.json["embeds"][0]
    assert firing.json["allowed_mentions"] == {"parse": []}  # @everyone / @here cannot ping
    assert embed["color"] == 0x9B59B6
    assert embed["title"] == "@everyone <script\\>alert(1)</script\\> \\_under\\_ \\*star\\* \\[link\\](http://evil)"
    assert embed["fields"] == [{"name": "account", "value": "<main\\>", "inline": True}]
    assert resolved.json["embeds"][0]["title"].startswith("\\[RESOLVED\\] ") and resolved.json["embeds"][0]["color"] == 0x2ECC71

    att = slack_fake.delivered()[0].json["attachments"][0]
    assert att["title"] == "@everyone &lt;script&gt;alert(1)&lt;/script&gt; _under_ *star* [link](http://evil)"
    assert att["text"] == "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;!channel&gt; `code` ~strike~ @here"
    assert att["footer"] == "Severity: EMERGENCY" and att["color"] == "#9B59B6"

    text = telegram_fake.delivered()[0].json["text"]
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert EVIL_TITLE in telegram_parse_html(text) and EVIL_MESSAGE in telegram_parse_html(text)

    hook = webhook_receiver.delivered()
    assert len(hook) == 1  # the duplicated task found the delivery already done
    assert hook[0].json["title"] == EVIL_TITLE and hook[0].json["severity"] == "emergency"
    assert verify_signature(WEBHOOK_SECRET, hook[0].body, hook[0].headers)

    (mail,) = smtp.received()
    assert mail.message["Subject"] == f"[EMERGENCY] {EVIL_TITLE}"
    html = mail.part("html")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<b>bold" not in html

    output = worker.output()
    assert f"alert_id={alert.alert_id}" in output and "ALERT [EMERGENCY] @everyone <script>" in output
    for secret in ALL_SECRETS:
        assert secret not in output
