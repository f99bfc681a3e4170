"""A loopback Telegram Bot API for the control bot: what TelegramFake answers, plus the bot's side.

- ``getUpdates``: long poll; ``offset`` confirms (drops) every update below it, the answer holds the
  updates from ``offset`` on, or ``[]`` after ``timeout`` seconds with none. A newer getUpdates ends
  a waiting one with 409 "Conflict: terminated by other getUpdates request" (two pollers of one token).
- ``sendMessage`` (TelegramFake's checks: HTML Telegram would reject is a 400) also validates
  ``reply_markup`` (``callback_data`` at most 64 bytes) and stores the message, so a press can be played.
- ``answerCallbackQuery`` (400 for an unknown or already answered query), ``editMessageText`` (HTML
  checked like sendMessage; 400 "message is not modified" when nothing changes),
  ``editMessageReplyMarkup``, ``getMe``.

A test plays users with ``send(chat, user, text)`` and ``press(chat, user, message_id, data)``; the
update it gets carries the message as Telegram would: plain text plus ``entities`` (UTF-16 offsets).
"""

from __future__ import annotations

import html
import itertools
import json
import threading
import time
from typing import Any

from .chat_apis import _TOKEN, TELEGRAM_TOKEN, TelegramFake, telegram_parse_html
from .http import Recorded, Reply

BOT_USER = {"id": 999000111, "is_bot": True, "first_name": "graphwiz", "username": "graphwiz_test_bot"}
ENTITY_TYPES = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "code": "code",
                "pre": "pre", "s": "strikethrough"}


def html_entities(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and formatting entities (offsets in UTF-16 code units) of valid Telegram HTML."""
    telegram_parse_html(text)  # raises on what Telegram would reject
    plain, entities, opened, pos = [], [], [], 0

    def utf16_len() -> int:
        return len("".join(plain).encode("utf-16-le")) // 2

    for m in _TOKEN.finditer(text):
        plain.append(text[pos:m.start()])
        if m.group(2):
            tag = m.group(2).lower()
            if m.group(1) != "/":
                opened.append((tag, utf16_len()))
            else:
                _, start = opened.pop()
                if tag in ENTITY_TYPES:
                    entities.append({"type": ENTITY_TYPES[tag], "offset": start, "length": utf16_len() - start})
        else:
            plain.append(html.unescape(m.group(0)))
        pos = m.end()
    plain.append(text[pos:])
    return "".join(plain), sorted(entities, key=lambda e: e["offset"])


class Problem(Exception):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class TelegramBotFake(TelegramFake):
    def __init__(self, token: str = TELEGRAM_TOKEN) -> None:
        super().__init__(token)
        self.cond = threading.Condition()
        self.updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self.messages: dict[int, dict[str, Any]] = {}  # message_id -> {chat_id, html, reply_markup, ...}
        self.answers: dict[str, dict[str, Any] | None] = {}  # callback query id -> its answer (None: not yet)
        self.polling = 0
        self._poll_generation = 0
        self.closed = False

    # ------------------------------------------------------------------ the test plays users

    def _push(self, update: dict[str, Any]) -> dict[str, Any]:
        with self.cond:
            update["update_id"] = next(self._update_ids)
            self.updates.append(update)
            self.cond.notify_all()
        return update

    @staticmethod
    def user(user_id: int, first_name: str = "Alice", username: str | None = None) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, **({"username": username} if username else {})}

    def send(self, chat_id: int, user: dict[str, Any], text: str, *, age_seconds: float = 0) -> int:
        """A user writes ``text`` in ``chat_id``; returns the message id."""
        message_id = next(self._message_ids)
        self._push({"message": {"message_id": message_id, "from": user, "date": int(time.time() - age_seconds),
                                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                                "text": text}})
        return message_id

    def press(self, chat_id: int, user: dict[str, Any], message_id: int, data: str) -> str:
        """A user presses the button with ``data`` under ``message_id``; returns the callback query id."""
        stored = self.messages[message_id]
        text, entities = html_entities(stored["html"])
        query_id = f"q{next(self._query_ids)}"
        with self.cond:
            self.answers[query_id] = None
        message = {"message_id": message_id, "from": BOT_USER, "date": int(stored["date"]),
                   "chat": {"id": chat_id, "type": "supergroup"}, "text": text, "entities": entities}
        if stored.get("reply_markup"):
            message["reply_markup"] = stored["reply_markup"]
        self._push({"callback_query": {"id": query_id, "from": user, "message": message, "data": data,
                                       "chat_instance": "1"}})
        return query_id

    # ------------------------------------------------------------------ inspection

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Messages the bot sent (or edited to), oldest first, with their plain ``text``."""
        with self.cond:
            found = [dict(m, message_id=i) for i, m in sorted(self.messages.items()) if m["from_bot"]]
        return [m for m in found if chat_id is None or str(m["chat_id"]) == str(chat_id)]

    def rejected(self) -> list[Recorded]:
        """Requests the API refused (e.g. HTML with unescaped user data)."""
        return [r for r in self.received() if r.status is not None and r.status >= 400]

    def pending(self) -> int:
        """Updates not yet confirmed by a getUpdates offset."""
        with self.cond:
            return len(self.updates)

    def stop(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        super().stop()

    # ------------------------------------------------------------------ the API

    def respond(self, req: Recorded) -> Reply:
        prefix = f"/bot{self.token}/"
        if not req.path.startswith(prefix):
            return Reply.json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        method = req.path[len(prefix):]
        if method == "sendMessage":
            return self._send_message(req)
        handler = {"getUpdates": self._get_updates, "answerCallbackQuery": self._answer, "getMe": lambda p: BOT_USER,
                   "editMessageText": self._edit_text, "editMessageReplyMarkup": self._edit_markup}.get(method)
        if handler is None:
            return Reply.json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        try:
            params = json.loads(req.body or b"{}")
            return Reply.json(200, {"ok": True, "result": handler(params)})
        except Problem as exc:
            status = 409 if exc.description.startswith("Conflict") else 400
            return Reply.json(status, {"ok": False, "error_code": status, "description": exc.description})
        except ValueError:
            return Reply.json(400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid JSON"})

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset, timeout = params.get("offset"), float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self.cond:
            self._poll_generation += 1  # a newer poll ends a waiting one with 409, as Telegram does
            mine = self._poll_generation
            self.cond.notify_all()
            self.polling += 1
            try:
                if isinstance(offset, int):
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                while not self.updates and not self.closed and (left := deadline - time.monotonic()) > 0:
                    self.cond.wait(left)
                    if self._poll_generation != mine:
                        raise Problem("Conflict: terminated by other getUpdates request; make sure that only one "
                                      "bot instance is running")
                return list(self.updates)
            finally:
                self.polling -= 1

    @staticmethod
    def _check_markup(markup: Any) -> None:
        if markup is None:
            return
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        if not isinstance(rows, list):
            raise Problem("Bad Request: can't parse reply keyboard markup JSON object")
        for row in rows:
            for button in row:
                if len(str(button.get("callback_data", "")).encode()) > 64 or not button.get("text"):
                    raise Problem("Bad Request: BUTTON_DATA_INVALID")

    def _send_message(self, req: Recorded) -> Reply:
        reply = super().respond(req)  # TelegramFake's checks: token, chat, HTML, length
        if reply.status != 200:
            return reply
        params = json.loads(req.body)
        try:
            self._check_markup(params.get("reply_markup"))
        except Problem as exc:
            return Reply.json(400, {"ok": False, "error_code": 400, "description": exc.description})
        with self.cond:
            message_id = next(self._message_ids)
            self.messages[message_id] = {"chat_id": params["chat_id"], "html": params["text"], "date": time.time(),
                                         "text": json.loads(reply.body)["result"]["text"], "from_bot": True,
                                         "reply_markup": params.get("reply_markup"), "edits": 0,
                                         "reply_to": (params.get("reply_parameters") or {}).get("message_id")}
        result = {"message_id": message_id, "chat": {"id": params["chat_id"]}, "date": int(time.time()),
                  "text": self.messages[message_id]["text"]}
        return Reply.json(200, {"ok": True, "result": result})

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self.messages.get(params.get("message_id"))  # type: ignore[arg-type]
        if stored is None or str(stored["chat_id"]) != str(params.get("chat_id")):
            raise Problem("Bad Request: message to edit not found")
        return stored

    def _edit_text(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("text") or "")
        try:
            plain = telegram_parse_html(text) if params.get("parse_mode") == "HTML" else text
        except ValueError as exc:
            raise Problem(f"Bad Request: {exc}") from None
        self._check_markup(params.get("reply_markup"))
        with self.cond:
            stored = self._message(params)
            markup = params.get("reply_markup")
            if text == stored["html"] and markup == stored["reply_markup"]:
                raise Problem("Bad Request: message is not modified")
            stored.update(html=text, text=plain, reply_markup=markup, edits=stored["edits"] + 1)
            return {"message_id": params["message_id"], "text": plain}

    def _edit_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check_markup(params.get("reply_markup"))
        with self.cond:
            stored = self._message(params)
            stored.update(reply_markup=params.get("reply_markup"), edits=stored["edits"] + 1)
            return {"message_id": params["message_id"]}

    def _answer(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id"))
        with self.cond:
            if query_id not in self.answers or self.answers[query_id] is not None:
                raise Problem("Bad Request: query is too old and response timeout expired or query ID is invalid")
            self.answers[query_id] = {"text": params.get("text", ""), "show_alert": bool(params.get("show_alert"))}
        return True
