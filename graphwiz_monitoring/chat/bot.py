"""The bot process: long polling (``getUpdates`` with an offset; no public URL), access, commands, buttons.

Updates are handled one at a time, in order; the offset moves past each one handled, and a clean
stop confirms the last one to Telegram, so a restart does not run a command twice. A command older
than ``command_max_age_seconds`` (sent while the bot was down) is answered but not executed.
Alert buttons (alerting/channels/telegram_buttons.py) arrive as ``callback_query``: the press is
answered at once (``answerCallbackQuery``, which stops the client's spinner), then the alert message
is edited to say who did what, and loses the button that was used.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from graphwiz_monitoring.alerting.channels.telegram_buttons import (
    ACK,
    ALERT_ACTIONS,
    CANCEL,
    PAUSE,
    RESUME_CONFIRM,
    SILENCE,
    SILENCE_BUTTON_SECONDS,
    alert_keyboard,
    parse_callback_data,
)
from graphwiz_monitoring.chat import views
from graphwiz_monitoring.chat.access import Sender, allowed
from graphwiz_monitoring.chat.actions import Actions, CommandError
from graphwiz_monitoring.chat.bot_api import BotApi
from graphwiz_monitoring.chat.commands import Commands, Reply, parse
from graphwiz_monitoring.chat.html import entities_html, escape
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import DeliveryFailed, GraphwizError, StateError
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import TaskSender

log = logging.getLogger(__name__)

BACKOFF_MAX_SECONDS = 60
ERROR_MAX_CHARS = 800  # an error shown to the user: escaping at most quintuples it ("&" -> "&amp;"), still < 4096
FATAL_STATUSES = ("HTTP 401", "HTTP 404")  # a wrong token or api_base: retrying will not help


class _Interrupted(Exception):
    """Raised by the signal handler to cut a long poll short (never while an update is being handled)."""


class TelegramBot:
    def __init__(self, settings: Settings, store: Store, keys: KeySpace, *, sender: TaskSender | None = None,
                 api: BotApi | None = None) -> None:
        self.settings = settings
        self.telegram = settings.notifications.telegram
        self.api = api or BotApi(self.telegram)
        self.actions = Actions(settings, store, keys, sender=sender)
        self.commands = Commands(self.actions)
        self.stop_event = threading.Event()
        self._polling = False
        self.offset: int | None = None

    # ------------------------------------------------------------------ loop

    def request_stop(self, *_: object) -> None:
        """Signal handler: stop after the update in hand; a long poll in progress is cut short."""
        self.stop_event.set()
        if self._polling:
            raise _Interrupted

    def run(self) -> None:
        t = self.telegram
        if not (t.allowed_chat_ids or t.allowed_user_ids):
            log.warning("telegram bot: neither allowed_chat_ids nor allowed_user_ids is set: every command is refused "
                        "(each refusal names the chat and user id to add)")
        elif t.chat_id and t.allowed_chat_ids and t.chat_id not in t.allowed_chat_ids:
            log.warning("telegram bot: the alert chat (notifications.telegram.chat_id) is not in allowed_chat_ids: "
                        "presses on its alert buttons will be refused")
        log.info("telegram bot: long polling %s (timeout %d s)", t.api_base, t.poll_timeout_seconds)
        backoff = 1.0
        while not self.stop_event.is_set():
            try:
                updates = self._poll()
            except _Interrupted:
                break
            except DeliveryFailed as exc:
                if not exc.retryable and exc.reason.startswith(tuple(f"telegram bot: {s}" for s in FATAL_STATUSES)):
                    raise GraphwizError(f"{exc.reason}: check notifications.telegram.bot_token and api_base") from None
                log.warning("telegram bot: getUpdates failed (%s); retrying in %.0f s", exc.reason, backoff)
                self.stop_event.wait(max(backoff, exc.retry_after or 0))
                backoff = min(BACKOFF_MAX_SECONDS, backoff * 2)
                continue
            backoff = 1.0
            for update in updates:
                if self.stop_event.is_set():  # the rest stays unconfirmed: the next bot handles it
                    break
                self.offset = update["update_id"] + 1
                self.handle(update)
        self._confirm()
        log.info("telegram bot: stopped")

    def _poll(self) -> list[dict[str, Any]]:
        self._polling = True
        try:
            if self.stop_event.is_set():
                raise _Interrupted
            return self.api.get_updates(self.offset, self.telegram.poll_timeout_seconds)
        finally:
            self._polling = False

    def _confirm(self) -> None:
        """Tell Telegram the updates handled so far are done (getUpdates with the next offset, no wait)."""
        if self.offset is None:
            return
        try:
            self.api.get_updates(self.offset, 0)
        except DeliveryFailed as exc:
            log.warning("telegram bot: could not confirm the last update (%s): it may be seen again", exc.reason)

    # ------------------------------------------------------------------ one update

    def handle(self, update: dict[str, Any]) -> None:
        try:
            if isinstance(update.get("callback_query"), dict):
                self.on_button(update["callback_query"])
            elif isinstance(update.get("message"), dict):
                self.on_message(update["message"])
        except DeliveryFailed as exc:
            log.warning("telegram bot: answering update %s failed: %s", update.get("update_id"), exc.reason)
        except Exception:  # one bad update must not stop the bot
            log.exception("telegram bot: update %s failed", update.get("update_id"))

    def on_message(self, message: dict[str, Any]) -> None:
        command = parse(str(message.get("text") or ""))
        if command is None:
            return  # chatter in a group: not for us
        name, args = command
        sender = Sender.of(message.get("chat"), message.get("from"))
        reply_to = message.get("message_id")
        if not allowed(self.telegram, sender):
            log.warning("telegram bot: refused /%s from user %s (%r) in chat %s: not in allowed_chat_ids/"
                        "allowed_user_ids", name[:40], sender.user_id, sender.display[:64], sender.chat_id)
            self.api.send_message(sender.chat_id, self._refusal(sender), reply_to=reply_to)
            return
        age = time.time() - float(message.get("date") or 0)
        if age > self.telegram.command_max_age_seconds:
            log.warning("telegram bot: /%s from %s is %.0f s old: not executed", name[:40], sender.actor, age)
            self.api.send_message(sender.chat_id, f"Not executed: /{escape(name[:40])} was sent {age / 60:.0f} min "
                                  "ago, while the bot was not running. Send it again if it is still wanted.",
                                  reply_to=reply_to)
            return
        log.info("telegram bot: /%s from %s in chat %s", name[:40], sender.actor, sender.chat_id)
        reply = self._safely(lambda: self.commands.run(name, args, sender))
        self.api.send_message(sender.chat_id, views.fit(reply.text), reply_markup=reply.reply_markup,
                              reply_to=reply_to)

    @staticmethod
    def _refusal(sender: Sender) -> str:
        return ("⛔ Not allowed: this bot answers only the chats and users in notifications.telegram.allowed_chat_ids "
                f"/ allowed_user_ids. This chat is <code>{escape(sender.chat_id)}</code>, you are "
                f"<code>{escape(sender.user_id)}</code>.")

    def _safely(self, work: Any) -> Reply:
        """Run a command; what went wrong becomes the reply (the user's mistake, or Redis, or a logged bug)."""
        try:
            result: Reply = work()
            return result
        except CommandError as exc:
            return Reply(f"⚠️ {escape(str(exc)[:ERROR_MAX_CHARS])}")
        except StateError as exc:
            return Reply(f"⚠️ Redis is unavailable: {escape(str(exc)[:ERROR_MAX_CHARS])}")
        except Exception as exc:
            log.exception("telegram bot: command failed")
            return Reply(f"⚠️ Failed ({escape(type(exc).__name__)}); the bot's log has the details.")

    # ------------------------------------------------------------------ buttons

    def on_button(self, query: dict[str, Any]) -> None:
        raw_message = query.get("message")
        message: dict[str, Any] = raw_message if isinstance(raw_message, dict) else {}
        sender = Sender.of(message.get("chat"), query.get("from"))
        query_id = str(query.get("id", ""))
        action, alert_id = parse_callback_data(str(query.get("data") or ""))
        if not allowed(self.telegram, sender):
            log.warning("telegram bot: refused button %r from user %s (%r) in chat %s", action, sender.user_id,
                        sender.display[:64], sender.chat_id)
            self.api.answer_callback_query(query_id, "Not allowed: you or this chat are not in the bot's allowed "
                                           f"lists (chat {sender.chat_id}, user {sender.user_id}).", show_alert=True)
            return
        if not action:
            self.api.answer_callback_query(query_id, "This button is not known to this bot.")
            return
        log.info("telegram bot: button %s%s from %s in chat %s", action, f" {alert_id}" if alert_id else "",
                 sender.actor, sender.chat_id)
        if action in ALERT_ACTIONS:
            self._alert_button(query_id, action, alert_id, message, sender)
        else:
            self._resume_button(query_id, action, message, sender)

    def _alert_button(self, query_id: str, action: str, alert_id: str, message: dict[str, Any],
                      sender: Sender) -> None:
        done = {ACK: "Acknowledged", SILENCE: "Silenced 1 h", PAUSE: "Pausing trading…"}[action]
        try:
            if action == ACK:
                self.actions.acknowledge(alert_id, sender.actor)
            elif action == SILENCE:
                self.actions.silence_alert(alert_id, SILENCE_BUTTON_SECONDS, sender.actor)
        except (CommandError, StateError) as exc:
            self.api.answer_callback_query(query_id, str(exc), show_alert=True)
            return
        self.api.answer_callback_query(query_id, done)
        if action == PAUSE:  # after the answer: the traders may take seconds to confirm
            paused: list[bool] = []

            def pause() -> Reply:
                change = self.actions.set_trading(True, sender.actor, f"Pause button on alert {alert_id}")
                paused.append(True)
                return Reply(views.trading_change_text(change, sender.display))

            reply = self._safely(pause)
            self.api.send_message(sender.chat_id, reply.text, reply_to=message.get("message_id"))
            if not paused:  # the reply says why; the button stays for another try
                return
        label = {ACK: "✅ Acknowledged", SILENCE: "🔕 Silenced for 1 h", PAUSE: "⏸ Trading paused"}[action]
        self._mark(message, f"{label} by {escape(sender.display)} at {datetime.now(UTC):%H:%M} UTC",
                   alert_id, action)

    def _mark(self, message: dict[str, Any], line: str, alert_id: str, action: str) -> None:
        """Append ``line`` to the alert message and drop the used button (the others stay usable)."""
        if not message.get("message_id"):
            return
        used = tuple(a for a in ALERT_ACTIONS if a == action or a in _removed_buttons(message))
        footer = "\n\n" + line  # the newest line survives: the alert text is what gets shortened
        text = views.fit(entities_html(str(message.get("text") or ""), message.get("entities")),
                         views.MESSAGE_MAX_CHARS - len(footer)) + footer
        self.api.edit_message_text(message["chat"]["id"], message["message_id"], text,
                                   reply_markup=alert_keyboard(alert_id, without=used))

    def _resume_button(self, query_id: str, action: str, message: dict[str, Any], sender: Sender) -> None:
        chat_id, message_id = (message.get("chat") or {}).get("id"), message.get("message_id")
        if action == CANCEL:
            self.api.answer_callback_query(query_id, "Cancelled")
            if chat_id and message_id:
                self.api.edit_message_text(chat_id, message_id, f"Resume cancelled by {escape(sender.display)}.")
            return
        if action != RESUME_CONFIRM:
            self.api.answer_callback_query(query_id, "This button is not known to this bot.")
            return
        self.api.answer_callback_query(query_id, "Resuming trading…")
        reply = self._safely(lambda: Reply(views.trading_change_text(self.actions.set_trading(False, sender.actor),
                                                                     sender.display)))
        if chat_id and message_id:  # the question becomes the answer, without its buttons
            self.api.edit_message_text(chat_id, message_id, reply.text)
        else:
            self.api.send_message(sender.chat_id, reply.text)


def _removed_buttons(message: dict[str, Any]) -> set[str]:
    """The alert buttons already removed from the message (pressed before)."""
    raw_markup = message.get("reply_markup")
    if not isinstance(raw_markup, dict) or not raw_markup:
        return set()
    present = {parse_callback_data(str(b.get("callback_data", "")))[0]
               for row in raw_markup.get("inline_keyboard") or [] for b in row if isinstance(b, dict)}
    return set(ALERT_ACTIONS) - present
