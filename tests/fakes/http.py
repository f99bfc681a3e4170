"""A programmable loopback HTTP server that records every request with its arrival time.

Subclasses (chat_apis.py) answer like a real API; the test programs failures in front of that:

    fake.fail(3)               # the next 3 requests get 500
    fake.throttle(1, 2)        # the next one gets the API's own 429 with retry-after 2 s, and so does
                               # every request in the following 2 s (like a real API's exhausted bucket)
    fake.hang(2, 3.0)          # the next 2 hang for 3 s (client timeouts), then get 500
    fake.down(500) / fake.down("hang", 3.0) / fake.up()   # a sustained outage

Arrival times are ``time.monotonic()`` (system-wide on Linux), taken when the request line and
headers have been read. Runs ``ThreadingHTTPServer`` on 127.0.0.1, a free port.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    """One request as it arrived, and what the fake answered (status None: hung, no answer sent)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    arrived: float
    status: int | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(cls, status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})


class FakeHTTPServer:
    """Base fake: records requests, applies programmed failures, else ``respond()``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._script: deque[tuple[str, float]] = deque()
        self._outage: tuple[str, float] | None = None
        self._throttled_until = 0.0
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ behaviour (override)
    def respond(self, req: Recorded) -> Reply:
        return Reply.json(200, {"ok": True})

    def respond_error(self, req: Recorded, status: int) -> Reply:
        return Reply.json(status, {"error": "fake failure", "status": status})

    def respond_throttled(self, req: Recorded, retry_after: float) -> Reply:
        return Reply.json(429, {"error": "rate limited"}, {"Retry-After": str(retry_after)})

    # ------------------------------------------------------------ programming
    def fail(self, times: int, status: int = 500) -> None:
        with self._lock:
            self._script.extend([("status", float(status))] * times)

    def throttle(self, times: int, retry_after: float) -> None:
        with self._lock:
            self._script.extend([("throttle", float(retry_after))] * times)

    def hang(self, times: int, seconds: float) -> None:
        with self._lock:
            self._script.extend([("hang", float(seconds))] * times)

    def down(self, mode: int | str = 500, seconds: float = 5.0) -> None:
        """Every request fails until ``up()``: an HTTP status, or "hang" for ``seconds``."""
        with self._lock:
            self._outage = ("hang", seconds) if mode == "hang" else ("status", float(mode))

    def up(self) -> None:
        with self._lock:
            self._outage = None
            self._script.clear()
            self._throttled_until = 0.0

    # ------------------------------------------------------------ inspection
    def received(self) -> list[Recorded]:
        with self._lock:
            return list(self.requests)

    def delivered(self) -> list[Recorded]:
        """Requests the fake accepted (2xx)."""
        return [r for r in self.received() if r.ok]

    # ------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHTTPServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                fake._handle(self)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _next_action(self) -> tuple[str, float] | None:
        with self._lock:
            now = time.monotonic()
            if now < self._throttled_until:  # came back before the Retry-After ran out
                return ("throttle", self._throttled_until - now)
            action = self._script.popleft() if self._script else self._outage
            if action is not None and action[0] == "throttle":
                self._throttled_until = now + action[1]
            return action

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        req = Recorded(handler.command, parts.path, parse_qs(parts.query), dict(handler.headers.items()), body, arrived)
        with self._lock:
            self.requests.append(req)
        action = self._next_action()
        if action is None:
            reply = self.respond(req)
        elif action[0] == "hang":
            self._release.wait(action[1])
            reply = self.respond_error(req, 500)
            req.status = None  # the client gave up long ago; this answer is not a delivery
            self._write(handler, reply)
            return
        elif action[0] == "throttle":
            reply = self.respond_throttled(req, action[1])
        else:
            reply = self.respond_error(req, int(action[1]))
        req.status = reply.status
        self._write(handler, reply)

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            if reply.body:
                handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass
