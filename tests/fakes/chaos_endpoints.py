"""Misbehaving notification endpoints for the chaos tests (scenarios 1 and 3 of issue 7).

- ``SlowReceiver``: a webhook receiver that takes ``delay`` seconds to answer and *commits* a message
  only when it answers a client that is still connected. A worker killed while its request waits
  leaves an ``aborted`` request (nothing delivered); a worker killed after the answer but before it
  recorded the delivery leaves a delivered request, and its redelivery makes a real duplicate. Each
  request keeps the client's TCP port, so a test can find (and kill) the exact process sending it.
- ``OutageDiscord``: a Discord fake that follows a timeline from ``begin()``: HTTP 500s, then 429s with
  Retry-After (each 429 opens a window in which every request is refused again, as Discord does),
  then requests that hang past the client's timeout, then normal service.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from .chat_apis import DiscordFake, WebhookReceiver
from .http import Recorded


@dataclass
class SlowRequest(Recorded):
    """A request to the slow receiver: who sent it, when it was answered, or that it was abandoned."""

    alert_id: str = ""
    client_port: int = 0
    answered: float | None = None
    aborted: bool = False


def client_gone(sock: socket.socket) -> bool:
    """True when the peer closed (or reset) the connection: readable with nothing left to read."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class SlowReceiver(WebhookReceiver):
    """See the module docstring; ``delivered()`` holds only the answered (committed) requests."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.after_answer: Callable[[SlowRequest], Callable[[], object] | None] | None = None

    def in_flight(self) -> list[SlowRequest]:
        return [r for r in self.received() if isinstance(r, SlowRequest) and r.answered is None and not r.aborted]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        try:
            alert_id = str(json.loads(body).get("alert_id", ""))
        except (ValueError, AttributeError):
            alert_id = ""
        req = SlowRequest(handler.command, parts.path, parse_qs(parts.query), dict(handler.headers.items()), body,
                          arrived, alert_id=alert_id, client_port=handler.client_address[1])
        with self._lock:
            self.requests.append(req)
        self._release.wait(self.delay)
        if client_gone(handler.connection):  # the sender died while we were "processing": not committed
            req.aborted = True
            handler.close_connection = True
            return
        hook = self.after_answer
        action = hook(req) if hook is not None else None
        reply = self.respond(req)
        req.status, req.answered = reply.status, time.monotonic()
        self._write(handler, reply)
        handler.wfile.flush()
        if action is not None:
            action()


class OutageDiscord(DiscordFake):
    """Discord following ``phases``: ``[(seconds, "500" | "429" | "hang"), ...]`` from ``begin()``, then up."""

    def __init__(self, phases: list[tuple[float, str]], retry_after: float, hang_seconds: float) -> None:
        super().__init__()
        self.phases = phases
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.started: float | None = None

    def begin(self) -> float:
        self.started = time.monotonic()
        return self.started

    @property
    def recovered_at(self) -> float:
        assert self.started is not None
        return self.started + sum(seconds for seconds, _ in self.phases)

    def phase(self, at: float) -> str | None:
        if self.started is None:
            return None
        end = self.started
        for seconds, mode in self.phases:
            end += seconds
            if at < end:
                return mode
        return None

    def _next_action(self) -> tuple[str, float] | None:
        with self._lock:
            now = time.monotonic()
            mode = self.phase(now)
            if now < self._throttled_until:  # inside a Retry-After window: refused again, whatever the phase
                return ("throttle", self._throttled_until - now)
            if mode == "500":
                return ("status", 500.0)
            if mode == "429":
                self._throttled_until = now + self.retry_after
                return ("throttle", self.retry_after)
            if mode == "hang":
                return ("hang", self.hang_seconds)
            return None


def alert_label(req: Recorded) -> str:
    """The ``n`` label of the alert a Discord request carries (first embed field)."""
    return str(req.json["embeds"][0]["fields"][0]["value"])

