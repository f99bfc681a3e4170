"""The few Telegram Bot API methods the bot needs, over the alert channel's HTTP layer.

Why not python-telegram-bot or aiogram (docs/ALERTS.md "Telegram bot"): six methods, a sync long-poll
loop and sync Redis calls do not need an async framework; PTB costs ~19 MiB more RSS per process in a
system with a memory budget, and its HTTP client (httpx) logs every request URL, the bot token
included, at INFO. ``alerting.channels.http.post`` already keeps the token out of errors and logs.

Every method returns the API's ``result``, or raises ``DeliveryFailed`` (retryable for network trouble,
429 and 5xx, with the server's ``retry_after``; final for 4xx such as a bad token or a message the API
rejects). A 409 "Conflict" on getUpdates means another poller (or a webhook) uses this token.
"""

from __future__ import annotations

from typing import Any

from graphwiz_monitoring.alerting.channels.base import secret_values
from graphwiz_monitoring.alerting.channels.http import fail_for_status, json_or_none, post, protect
from graphwiz_monitoring.config import TelegramSettings
from graphwiz_monitoring.errors import DeliveryFailed

NAME = "telegram bot"
HTTP_SLACK_SECONDS = 10  # a long poll's HTTP timeout: the poll's own wait plus this


class BotApi:
    def __init__(self, settings: TelegramSettings) -> None:
        if not (settings.bot_token and settings.bot_token.get_secret_value()):
            raise ValueError("notifications.telegram.bot_token is not set: the bot needs a token from @BotFather")
        self.settings = settings
        self._secrets = secret_values(settings)
        protect(self._secrets)
        self._base = f"{settings.api_base.rstrip('/')}/bot{settings.bot_token.get_secret_value()}/"

    def call(self, method: str, params: dict[str, Any], *, timeout: float | None = None) -> Any:
        response = post(NAME, self._base + method, json_body=params,
                        timeout=timeout if timeout is not None else self.settings.timeout_seconds)
        body = json_or_none(response)
        body = body if isinstance(body, dict) else {}
        if response.status_code == 200 and body.get("ok") is True:
            return body.get("result")
        raw_parameters = body.get("parameters")
        parameters: dict[str, Any] = raw_parameters if isinstance(raw_parameters, dict) else {}
        detail = f"{method}: {body.get('description') or 'no description'}"
        raise fail_for_status(NAME, response, detail=detail, body_retry_after=parameters.get("retry_after"),
                              secrets=self._secrets)

    def get_updates(self, offset: int | None, timeout: int) -> list[dict[str, Any]]:
        """Long poll: waits up to ``timeout`` s for updates with ``update_id >= offset`` (confirming older ones)."""
        params: dict[str, Any] = {"timeout": timeout, "allowed_updates": ["message", "callback_query"]}
        if offset is not None:
            params["offset"] = offset
        result = self.call("getUpdates", params, timeout=timeout + HTTP_SLACK_SECONDS)
        if not isinstance(result, list):
            raise DeliveryFailed(f"{NAME}: getUpdates returned no list", retryable=True)
        return [u for u in result if isinstance(u, dict) and isinstance(u.get("update_id"), int)]

    def send_message(self, chat_id: int | str, text: str, *, reply_markup: dict[str, Any] | None = None,
                     reply_to: int | None = None) -> Any:
        params: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": "HTML",
                                  "disable_web_page_preview": True}
        if reply_markup is not None:
            params["reply_markup"] = reply_markup
        if reply_to is not None:  # the answer sits under the command even in a busy group
            params["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
        return self.call("sendMessage", params)

    def answer_callback_query(self, query_id: str, text: str = "", *, show_alert: bool = False) -> Any:
        return self.call("answerCallbackQuery", {"callback_query_id": query_id, "text": text[:200],
                                                 "show_alert": show_alert})

    def edit_message_text(self, chat_id: int | str, message_id: int, text: str, *,
                          reply_markup: dict[str, Any] | None = None) -> Any:
        params: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id, "text": text, "parse_mode": "HTML",
                                  "disable_web_page_preview": True}
        if reply_markup is not None:
            params["reply_markup"] = reply_markup
        return self.call("editMessageText", params)

