"""Telegram Bot API ``sendMessage`` in HTML parse mode, every value escaped, at most 4096 characters.

HTML rather than the original's Markdown, which broke on ``_``/``*`` in titles: in HTML mode only
``<``, ``>`` and ``&`` are special, and ``html.escape`` handles them. The bot token sits in the URL
path, so it is redacted from the HTTP stack's logs and never appears in a reason. ``api_base`` is
configurable for tests and proxies. 429 answers carry ``parameters.retry_after`` in the JSON body.
"""

from __future__ import annotations

import html
from typing import Any

from graphwiz_monitoring.alerting.channels.base import Channel
from graphwiz_monitoring.alerting.channels.http import fail_for_status, json_or_none, post, protect
from graphwiz_monitoring.alerting.channels.render import GroupView, View, fit
from graphwiz_monitoring.alerting.channels.telegram_buttons import alert_keyboard
from graphwiz_monitoring.alerting.models import Alert
from graphwiz_monitoring.config import TelegramSettings

MESSAGE_MAX_CHARS = 4096
TITLE_MAX_CHARS = 256
FIELD_MAX_CHARS = 300
FIELDS_MAX = 25


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def build_text(view: View) -> str:
    """The HTML message; the alert message is shortened last so the headline and fields survive."""
    alert = view.alert
    head = f"<b>{fit(view.subject, TITLE_MAX_CHARS, escape)}</b>"
    lines = [f"<b>{fit(k, FIELD_MAX_CHARS, escape)}</b>: {fit(v, FIELD_MAX_CHARS, escape)}"
             for k, v in view.fields[:FIELDS_MAX]]
    tail = f"<i>rule {fit(alert.rule_name, TITLE_MAX_CHARS, escape)} | {view.timestamp}</i>"
    fixed = "\n".join([head, "", *lines, "", tail])
    budget = MESSAGE_MAX_CHARS - len(fixed) - 2
    while budget < 0 and lines:  # absurdly many/long fields: drop from the end
        lines.pop()
        fixed = "\n".join([head, "", *lines, "", tail])
        budget = MESSAGE_MAX_CHARS - len(fixed) - 2
    body = fit(alert.message, max(0, budget), escape)
    return "\n".join([head, body, "", *lines, "", tail]) if lines else "\n".join([head, body, "", tail])


def build_group_text(view: GroupView) -> str:
    """The HTML of a grouped message: the subject, one line per alert, the rules and time."""
    head = f"<b>{fit(view.subject, TITLE_MAX_CHARS, escape)}</b>"
    tail = f"<i>rule {fit(', '.join(view.rules), TITLE_MAX_CHARS, escape)} | {view.timestamp}</i>"
    budget = MESSAGE_MAX_CHARS - len(head) - len(tail) - 4
    return "\n".join([head, "", *view.lines(budget, escape), "", tail])


class TelegramChannel(Channel):
    name = "telegram"
    settings_model = TelegramSettings

    def __init__(self, settings: TelegramSettings) -> None:
        super().__init__(settings)
        protect(self.secrets)

    def url(self) -> str:
        s = self.settings
        assert isinstance(s, TelegramSettings) and s.bot_token is not None
        return f"{s.api_base.rstrip('/')}/bot{s.bot_token.get_secret_value()}/sendMessage"

    def payload(self, alert: Alert, kind: str) -> dict[str, Any]:
        s = self.settings
        assert isinstance(s, TelegramSettings)
        view = View(alert, kind)
        payload: dict[str, Any] = {"chat_id": s.chat_id, "text": build_text(view), "parse_mode": "HTML",
                                   "disable_web_page_preview": True}
        if s.bot_configured and not (view.resolved or view.stale):  # the bot answers presses (telegram_buttons.py)
            payload["reply_markup"] = alert_keyboard(alert.alert_id)
        return payload

    def group_payload(self, items: list[tuple[Alert, str]]) -> dict[str, Any]:
        s = self.settings
        assert isinstance(s, TelegramSettings)
        return {"chat_id": s.chat_id, "text": build_group_text(GroupView(items)), "parse_mode": "HTML",
                "disable_web_page_preview": True}

    def send(self, alert: Alert, kind: str) -> None:
        self._post(self.payload(alert, kind))

    def send_group(self, items: list[tuple[Alert, str]]) -> None:
        self._post(self.group_payload(items))

    def _post(self, payload: dict[str, Any]) -> None:
        response = post(self.name, self.url(), json_body=payload, timeout=self.settings.timeout_seconds)
        body = json_or_none(response)
        body = body if isinstance(body, dict) else {}
        if response.status_code == 200 and body.get("ok") is not False:
            return
        raw_parameters = body.get("parameters")
        parameters: dict[str, Any] = raw_parameters if isinstance(raw_parameters, dict) else {}
        detail = str(body.get("description") or "")
        if parameters.get("migrate_to_chat_id"):
            detail = f"group became a supergroup: set chat_id to {parameters['migrate_to_chat_id']}"
        raise fail_for_status(self.name, response, detail=detail, body_retry_after=parameters.get("retry_after"),
                              secrets=self.secrets)
