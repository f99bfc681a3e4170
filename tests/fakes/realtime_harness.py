"""Test harness for the realtime server: run the real server in a thread, talk raw HTTP/WebSocket.

Not a fake: the server is the real RealtimeServer on a real socket. The raw helpers let tests send
what well-behaved clients never do (a chosen Host header, a client that stops reading).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import threading
import time
from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.realtime.server import RealtimeServer
from graphwiz_monitoring.state import KeySpace, Store


class ServerThread:
    """A RealtimeServer on its own event loop in a daemon thread; ``start()`` returns once it listens."""

    def __init__(self, settings: Settings, store: Store, keys: KeySpace, **kwargs: Any) -> None:
        self.server = RealtimeServer(settings, store, keys, **kwargs)
        self.settings = settings
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="realtime-test-server", daemon=True)

    def start(self, timeout: float = 15) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("realtime server did not start")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                await self.server.start()
            except BaseException as exc:  # surfaced to start()
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            await self._stop.wait()
            await self.server.stop()

        asyncio.run(main())

    def stop(self, timeout: float = 15) -> None:
        if self.loop is not None and self._stop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def call(self, fn: Any, timeout: float = 5) -> Any:
        """Run ``fn()`` on the server's loop (to read hub state safely) and return its result."""
        assert self.loop is not None

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    @property
    def port(self) -> int:
        return self.settings.websocket.port

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def http_request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
                 timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP/1.1 request to 127.0.0.1:port (any Host header we like); returns status, headers, body."""
    lines = [f"{method} {path} HTTP/1.1"]
    merged = {"Host": f"127.0.0.1:{port}", "Connection": "close", **(headers or {})}
    if method == "POST":
        merged.setdefault("Content-Length", "0")
    lines += [f"{k}: {v}" for k, v in merged.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), parsed, body


def http_json(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    status, _, body = http_request(port, method, path, headers)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")  # plain-text answers (404, 405)


def raw_websocket(port: int, path: str = "/ws", headers: dict[str, str] | None = None,
                  rcvbuf: int | None = None, timeout: float = 5) -> tuple[socket.socket, int]:
    """Open a WebSocket by hand (optionally with a tiny receive buffer); returns (socket, HTTP status).

    The socket is left unread after the 101 response: a client that has stalled.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    merged = {"Host": f"127.0.0.1:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
              "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13", **(headers or {})}
    request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in merged.items()) + "\r\n"
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:  # read the response head byte by byte: leave frames unread
        byte = sock.recv(1)
        if not byte:
            break
        head += byte
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return sock, status


def socket_closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Drain ``sock`` until the peer closes or resets it (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(1 << 20):
                return True
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False
