"""Loopback fakes of the chat APIs, answering the way the real ones do (status codes, headers, bodies).

- DiscordFake: ``POST /api/webhooks/<id>/<token>``: 204 (200 + message with ``?wait=true``); 400
  ``{"code": 50035}`` when an embed breaks Discord's limits; 429 with ``Retry-After`` (whole
  seconds), ``X-RateLimit-Reset-After`` and body ``retry_after``; ``X-RateLimit-*`` on every answer.
- SlackFake: ``POST /services/T/B/X``: 200 ``ok``; 400 ``invalid_payload`` / ``no_text``; 429
  ``Retry-After``.
- TelegramFake: ``POST /bot<token>/sendMessage``: 200 ``{"ok":true,"result":{...}}``; 401 for a
  wrong token; 400 "can't parse entities" for HTML Telegram would reject, "message is too long"
  over 4096 characters after entity parsing; 429 ``{"parameters":{"retry_after":N}}``.
- WebhookReceiver: 200 on its secret path, 401 elsewhere.
"""

from __future__ import annotations

import html
import json
import math
import re
import time
from typing import Any

from .http import FakeHTTPServer, Recorded, Reply

DISCORD_TOKEN = "SECRET-discord-token-0123456789abcdef"
SLACK_PATH = "/services/T0001/B0001/SECRETslackPATH0123456789"
TELEGRAM_TOKEN = "123456:SECRET-telegram-token-abcdef"


class DiscordFake(FakeHTTPServer):
    WEBHOOK_ID = "1234567890"
    LIMIT = 5

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/api/webhooks/{self.WEBHOOK_ID}/{DISCORD_TOKEN}"

    def _rate_headers(self, remaining: int = 4, reset_after: float = 2.0) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.LIMIT), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}", "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                "X-RateLimit-Bucket": "fakebucket"}

    @staticmethod
    def embed_problems(payload: Any) -> list[str]:
        """What Discord would reject (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)."""
        if not isinstance(payload, dict):
            return ["body is not an object"]
        problems: list[str] = []
        embeds = payload.get("embeds") or []
        if not embeds and not payload.get("content"):
            problems.append("empty message")
        if len(payload.get("content") or "") > 2000:
            problems.append("content > 2000")
        if len(embeds) > 10:
            problems.append("> 10 embeds")
        total = 0
        for e in embeds:
            title, desc = e.get("title", ""), e.get("description", "")
            footer = (e.get("footer") or {}).get("text", "")
            fields = e.get("fields") or []
            if len(title) > 256:
                problems.append("title > 256")
            if len(desc) > 4096:
                problems.append("description > 4096")
            if len(fields) > 25:
                problems.append("> 25 fields")
            if len(footer) > 2048:
                problems.append("footer > 2048")
            for f in fields:
                if not f.get("name") or not f.get("value"):
                    problems.append("empty field name/value")
                if len(f.get("name", "")) > 256 or len(f.get("value", "")) > 1024:
                    problems.append("field too long")
            total += len(title) + len(desc) + len(footer) + sum(len(f.get("name", "")) + len(f.get("value", ""))
                                                                  for f in fields)
        if total > 6000:
            problems.append("embeds total > 6000")
        return problems

    def respond(self, req: Recorded) -> Reply:
        if req.path != f"/api/webhooks/{self.WEBHOOK_ID}/{DISCORD_TOKEN}":
            return Reply.json(401, {"message": "Invalid Webhook Token", "code": 50027})
        if "application/json" not in req.headers.get("Content-Type", ""):
            return Reply.json(400, {"message": "Cannot send an empty message", "code": 50006})
        try:
            payload = req.json
        except ValueError:
            return Reply.json(400, {"message": "The request body contains invalid JSON.", "code": 50109})
        problems = self.embed_problems(payload)
        if problems:
            return Reply.json(400, {"message": "Invalid Form Body", "code": 50035, "errors": problems})
        if req.query.get("wait") == ["true"]:
            message = {"id": str(len(self.requests)), "channel_id": "1", "content": payload.get("content", ""),
                       "embeds": payload.get("embeds", []), "webhook_id": self.WEBHOOK_ID}
            return Reply.json(200, message, self._rate_headers())
        return Reply(204, b"", self._rate_headers())

    def respond_error(self, req: Recorded, status: int) -> Reply:
        return Reply.json(status, {"message": "Internal Server Error", "code": 0})

    def respond_throttled(self, req: Recorded, retry_after: float) -> Reply:
        headers = {**self._rate_headers(0, retry_after), "Retry-After": str(math.ceil(retry_after)),
                   "X-RateLimit-Scope": "user"}
        return Reply.json(429, {"message": "You are being rate limited.", "retry_after": retry_after,
                                "global": False}, headers)


class SlackFake(FakeHTTPServer):
    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}{SLACK_PATH}"

    def respond(self, req: Recorded) -> Reply:
        if req.path != SLACK_PATH:
            return Reply.text(404, "no_service")
        try:
            payload = req.json
        except ValueError:
            return Reply.text(400, "invalid_payload")
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("attachments")
                                                 or payload.get("blocks")):
            return Reply.text(400, "no_text")
        return Reply.text(200, "ok")

    def respond_error(self, req: Recorded, status: int) -> Reply:
        return Reply.text(status, "internal_error")

    def respond_throttled(self, req: Recorded, retry_after: float) -> Reply:
        return Reply.text(429, "rate_limited", {"Retry-After": str(math.ceil(retry_after))})


# Telegram's HTML parse mode: these tags, and only these four named entities.
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
                 "tg-emoji", "code", "pre", "blockquote"}
_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>|&(#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")


def telegram_parse_html(text: str) -> str:
    """The plain text Telegram would show, or ValueError("can't parse entities: ...")."""
    out, stack, pos = [], [], 0
    for m in _TOKEN.finditer(text):
        chunk = text[pos:m.start()]
        for ch in "<>&":
            if ch in chunk:
                raise ValueError(f"can't parse entities: unexpected {ch!r} at byte offset {pos + chunk.index(ch)}")
        out.append(chunk)
        if m.group(2):
            closing, tag = m.group(1) == "/", m.group(2).lower()
            if tag not in TELEGRAM_TAGS:
                raise ValueError(f"can't parse entities: Unsupported start tag \"{tag}\"")
            if closing:
                if not stack or stack.pop() != tag:
                    raise ValueError(f"can't parse entities: Unmatched end tag \"{tag}\"")
            else:
                stack.append(tag)
        else:
            out.append(html.unescape(m.group(0)))
        pos = m.end()
    rest = text[pos:]
    for ch in "<>&":
        if ch in rest:
            raise ValueError(f"can't parse entities: unexpected {ch!r}")
    if stack:
        raise ValueError(f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\"")
    return "".join(out + [rest])


class TelegramFake(FakeHTTPServer):
    def __init__(self, token: str = TELEGRAM_TOKEN) -> None:
        super().__init__()
        self.token = token

    @property
    def api_base(self) -> str:
        return self.base_url

    def respond(self, req: Recorded) -> Reply:
        if not req.path.startswith(f"/bot{self.token}/"):
            return Reply.json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        if req.path != f"/bot{self.token}/sendMessage":
            return Reply.json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        try:
            payload = json.loads(req.body)
        except ValueError:
            return Reply.json(400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid JSON"})
        if not payload.get("chat_id"):
            return Reply.json(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
        text = payload.get("text") or ""
        if payload.get("parse_mode") == "HTML":
            try:
                text = telegram_parse_html(text)
            except ValueError as exc:
                return Reply.json(400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
        if not text.strip():
            return Reply.json(400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"})
        if len(text) > 4096:
            return Reply.json(400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"})
        result = {"message_id": len(self.requests), "chat": {"id": payload["chat_id"]}, "date": int(time.time()),
                  "text": text}
        return Reply.json(200, {"ok": True, "result": result})

    def respond_error(self, req: Recorded, status: int) -> Reply:
        return Reply.json(status, {"ok": False, "error_code": status, "description": "Internal Server Error"})

    def respond_throttled(self, req: Recorded, retry_after: float) -> Reply:
        seconds = math.ceil(retry_after)
        return Reply.json(429, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {seconds}",
                                "parameters": {"retry_after": seconds}})


class WebhookReceiver(FakeHTTPServer):
    PATH = "/hooks/SECRET-webhook-path-0123456789"

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.PATH}"

    def respond(self, req: Recorded) -> Reply:
        if req.path != self.PATH:  # the secret path is the receiver's credential
            return Reply.json(401, {"error": "unauthorized"})
        return Reply.json(200, {"ok": True})
