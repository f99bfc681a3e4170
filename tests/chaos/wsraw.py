"""WebSocket fuzz helpers: raw frames (what a well-behaved client library refuses to send) and the reply oracle."""

from __future__ import annotations

import json
import os
import socket
import time

from websockets.sync.client import ClientConnection

from graphwiz_monitoring.events import EVENT_TYPES
from tests.fakes.realtime_harness import raw_websocket

CLOSE = 0x8
TEXT = 0x1
INVALID_DATA, TOO_BIG, PROTOCOL_ERROR = 1007, 1009, 1002  # close codes
REPLY_TYPES = ("error", "subscribed")


def frame(opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True, rsv: int = 0) -> bytes:
    """One client frame (clients must mask; ``masked=False`` breaks that rule on purpose)."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def _exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed the socket")
        data += chunk
    return data


def close_code(sock: socket.socket, timeout: float = 5.0) -> int | None:
    """Read server frames until its close frame; returns the close code (None: socket dropped without one)."""
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    try:
        while time.monotonic() < deadline:
            b0, b1 = _exact(sock, 2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(_exact(sock, 2), "big")
            elif n == 127:
                n = int.from_bytes(_exact(sock, 8), "big")
            payload = _exact(sock, n)
            if b0 & 0x0F == CLOSE:
                return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
    except (ConnectionError, OSError):
        return None
    return None


def send_bad_utf8(port: int, payload: bytes) -> int | None:
    """Send ``payload`` as a text frame that is not UTF-8 (only a raw socket can) on a new connection to
    the server on ``port``; the close code it answers with."""
    sock, status = raw_websocket(port)
    assert status == 101
    try:
        sock.sendall(frame(TEXT, payload))
        return close_code(sock)
    finally:
        sock.close()


def expected_reply(raw: str | bytes) -> str:
    """What the server must answer: ``subscribed`` only for ``{"subscribe": <known types | * | null | []>}``."""
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        return "error"
    if not isinstance(message, dict) or set(message) != {"subscribe"}:
        return "error"
    wanted = message["subscribe"]
    if wanted is None or wanted == "*" or wanted == []:
        return "subscribed"
    if isinstance(wanted, list) and all(isinstance(t, str) for t in wanted) and set(wanted) <= EVENT_TYPES:
        return "subscribed"
    return "error"


def reply_type(ws: ClientConnection) -> str:
    """The next reply to this client's own message (broadcast events in between are skipped)."""
    while True:
        message = json.loads(ws.recv(timeout=10))
        if message["type"] in REPLY_TYPES:
            return message["type"]
