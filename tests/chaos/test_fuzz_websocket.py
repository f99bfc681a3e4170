"""Scenario 6 (bad input), WebSocket part: random text, bytes, JSON, deep nesting, invalid UTF-8 and broken
frames sent to the real realtime server. Every message gets an ``error`` (or, when it is a valid
subscription, ``subscribed``) reply, or the connection is closed with the protocol's code; the server
never fails, and a well-behaved client connected alongside receives every event published meanwhile.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from graphwiz_monitoring.events import EventType, publish
from graphwiz_monitoring.realtime.server import MAX_CLIENT_MESSAGE_BYTES
from tests.chaos.strategies import ws_message
from tests.chaos.wsraw import (
    INVALID_DATA,
    PROTOCOL_ERROR,
    TEXT,
    TOO_BIG,
    close_code,
    expected_reply,
    frame,
    reply_type,
    send_bad_utf8,
)
from tests.conftest import wait_until
from tests.fakes.realtime_harness import raw_websocket

pytestmark = pytest.mark.chaos

EXAMPLES = 250
MARKER_EVERY = 25


class Listener:
    """The well-behaved client: reads everything in a thread, remembers the markers it saw."""

    def __init__(self, url: str) -> None:
        self.ws = connect(url, open_timeout=10, max_size=None)
        self.types: list[str] = []
        self.markers: list[int] = []
        self.closed: BaseException | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                message = json.loads(raw)
                self.types.append(message["type"])
                if message["type"] == "alert" and "marker" in message["data"]:
                    self.markers.append(message["data"]["marker"])
        except ConnectionClosed as exc:
            self.closed = exc

    def close(self) -> None:
        self.ws.close()
        self.thread.join(5)


def test_random_client_messages_never_break_the_server(realtime_server, store, keys) -> None:
    server = realtime_server()
    listener = Listener(server.ws_url)
    wait_until(lambda: listener.types[:1] == ["snapshot"], timeout=10, message="listener snapshot")
    state: dict[str, Any] = {"ws": connect(server.ws_url, open_timeout=10), "sent": 0, "closes": {}, "markers": 0}
    state["ws"].recv(timeout=10)  # the fuzzing client's own snapshot

    def reconnect() -> None:
        state["ws"] = connect(server.ws_url, open_timeout=10)
        state["ws"].recv(timeout=10)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(message=ws_message())
    def run(message: tuple[str, Any]) -> None:
        kind, payload = message
        state["sent"] += 1
        if state["sent"] % MARKER_EVERY == 0:
            publish(store, keys, EventType.ALERT, {"marker": state["markers"]})
            state["markers"] += 1
        if kind == "bad_utf8":
            code = send_bad_utf8(server.port, payload)
            assert code == INVALID_DATA, code
            state["closes"][code] = state["closes"].get(code, 0) + 1
            return
        ws = state["ws"]
        try:
            ws.send(payload)
            got = reply_type(ws)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            size = len(payload.encode() if isinstance(payload, str) else payload)
            assert code == TOO_BIG and size > MAX_CLIENT_MESSAGE_BYTES, (code, size, str(payload)[:200])
            state["closes"][code] = state["closes"].get(code, 0) + 1
            reconnect()
            return
        assert got == expected_reply(payload), (got, str(payload)[:300])

    try:
        run()
        publish(store, keys, EventType.ALERT, {"marker": state["markers"]})
        state["markers"] += 1
        wait_until(lambda: len(listener.markers) == state["markers"], timeout=10, message="every marker event")
        assert listener.markers == list(range(state["markers"]))  # in order, none lost, none twice
        assert listener.closed is None
        # The periodic push (every 0.5 s) kept flowing as well; a fast run may finish before the second one.
        wait_until(lambda: listener.types.count("metrics") >= 2, timeout=5, message="two metrics pushes")
        with connect(server.ws_url, open_timeout=10) as fresh:  # still accepting new clients
            assert json.loads(fresh.recv(timeout=10))["type"] == "snapshot"
        assert state["closes"].get(INVALID_DATA, 0) > 0  # the invalid-UTF-8 path was exercised
        print(f"\nscenario 6 (WebSocket): {state['sent']} messages, closes {state['closes']}, listener received "
              f"{len(listener.markers)}/{state['markers']} marker events and {listener.types.count('metrics')} pushes")
    finally:
        state["ws"].close()
        listener.close()


# Frames carry random mask keys: ids must be the names, or xdist workers collect different tests.
BROKEN_FRAMES = [
    ("unmasked client frame", frame(TEXT, b'{"subscribe": "*"}', masked=False), PROTOCOL_ERROR),
    ("reserved opcode", frame(0x3, b"x"), PROTOCOL_ERROR),
    ("reserved bits", frame(TEXT, b"{}", rsv=0b100), PROTOCOL_ERROR),
    ("continuation without start", frame(0x0, b"x"), PROTOCOL_ERROR),
    ("control frame too long", frame(0x9, b"p" * 200), PROTOCOL_ERROR),
    ("fragmented control frame", frame(0x9, b"p", fin=False), PROTOCOL_ERROR),
    ("invalid UTF-8 text", frame(TEXT, b"\xc3\x28"), INVALID_DATA),
    ("bad close code", frame(0x8, (999).to_bytes(2, "big")), PROTOCOL_ERROR),
    ("too big", frame(TEXT, b"[" * (MAX_CLIENT_MESSAGE_BYTES + 1)), TOO_BIG),
]


@pytest.mark.parametrize("name, data, code", BROKEN_FRAMES, ids=[case[0] for case in BROKEN_FRAMES])
def test_broken_frames_close_only_that_connection(realtime_server, store, keys, name, data, code) -> None:
    server = realtime_server()
    with connect(server.ws_url, open_timeout=10) as bystander:
        assert json.loads(bystander.recv(timeout=10))["type"] == "snapshot"
        sock, status = raw_websocket(server.port)
        assert status == 101
        sock.sendall(data)
        assert close_code(sock) == code, name
        sock.close()
        publish(store, keys, EventType.ALERT, {"marker": name})
        while True:  # the bystander still gets events
            message = json.loads(bystander.recv(timeout=10))
            if message["type"] == "alert":
                assert message["data"] == {"marker": name}
                break
