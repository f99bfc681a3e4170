"""The set of connected clients: bounded per-client queues, subscription filters, slow-client eviction.

``broadcast`` never awaits: it drops a message into each interested client's queue and returns, so one
client that stopped reading cannot delay the others. A client whose queue is full is evicted: it gets
close code 1013 (try again later) if its socket still accepts the close frame, and the connection is
aborted after ``EVICT_CLOSE_SECONDS`` either way (a peer that never reads would otherwise keep
``close()`` waiting on a full TCP buffer forever).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode

from graphwiz_monitoring.events import ERROR, EVENT_TYPES, SUBSCRIBED, make_message

log = logging.getLogger(__name__)

EVICT_CLOSE_SECONDS = 1.0
SLOW_CLIENT_REASON = "client too slow: message queue full"


@dataclass(eq=False)
class Client:
    """One WebSocket connection and what it wants to receive (``types`` None: everything)."""

    ws: ServerConnection
    queue: asyncio.Queue[str]
    types: frozenset[str] | None = None
    evicted: bool = False
    sender: asyncio.Task[None] | None = field(default=None, repr=False)

    def wants(self, event_type: str) -> bool:
        return self.types is None or event_type in self.types


class Hub:
    """All connected clients of one server; every method runs on the server's event loop."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self.evicted_total = 0
        self.delivered_total = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def register(self, ws: ServerConnection) -> Client:
        client = Client(ws, asyncio.Queue(maxsize=self.queue_size))
        self.clients.add(client)
        return client

    def unregister(self, client: Client) -> None:
        self.clients.discard(client)
        if client.sender is not None:
            client.sender.cancel()

    def broadcast(self, event_type: str, text: str) -> int:
        """Queue ``text`` for every client subscribed to ``event_type``; returns how many got it."""
        count = 0
        for client in list(self.clients):
            if client.wants(event_type) and self.offer(client, text):
                count += 1
        return count

    def offer(self, client: Client, text: str) -> bool:
        """Queue one message for one client; a full queue evicts the client (False)."""
        if client.evicted:
            return False
        try:
            client.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.evict(client)
            return False
        return True

    def evict(self, client: Client) -> None:
        client.evicted = True
        self.evicted_total += 1
        self.unregister(client)
        log.warning("realtime: disconnecting slow client %s (queue of %d full)",
                    _peer(client.ws), self.queue_size)
        task = asyncio.get_running_loop().create_task(self._close(client.ws, CloseCode.TRY_AGAIN_LATER,
                                                                  SLOW_CLIENT_REASON))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close(self, ws: ServerConnection, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(ws.close(code, reason), EVICT_CLOSE_SECONDS)
        except (TimeoutError, OSError, RuntimeError):
            pass
        finally:
            if ws.transport is not None and not ws.transport.is_closing():
                ws.transport.abort()

    async def pump(self, client: Client) -> None:
        """Send a client's queued messages in order until it disconnects (runs as its sender task)."""
        while True:
            text = await client.queue.get()
            await client.ws.send(text)
            self.delivered_total += 1

    def handle_client_message(self, client: Client, raw: str | bytes) -> None:
        """Apply a client's message (only ``{"subscribe": [...]}`` so far); anything else gets an error."""
        reply = apply_subscription(client, raw)
        self.offer(client, reply)

    def stats(self) -> dict[str, Any]:
        return {"clients": len(self.clients), "evicted_total": self.evicted_total,
                "delivered_total": self.delivered_total}


def apply_subscription(client: Client, raw: str | bytes) -> str:
    """Parse ``{"subscribe": ["alert", ...]}`` (``"*"``/``null``/``[]`` = everything); return the reply."""
    try:
        message = json.loads(raw)
    except (TypeError, ValueError, RecursionError):  # RecursionError: "[[[[..." from a client
        return _error("message is not valid JSON")
    if not isinstance(message, dict) or set(message) != {"subscribe"}:
        return _error('expected {"subscribe": [event types]}')
    wanted = message["subscribe"]
    if wanted is None or wanted == "*" or wanted == []:
        client.types = None
    elif isinstance(wanted, list) and all(isinstance(t, str) for t in wanted):
        unknown = sorted(set(wanted) - EVENT_TYPES)
        if unknown:
            return _error(f"unknown event type(s) {[t[:40] for t in unknown[:10]]}; known: {sorted(EVENT_TYPES)}")
        client.types = frozenset(wanted)
    else:
        return _error("subscribe must be a list of event type names")
    return make_message(SUBSCRIBED, {"types": sorted(client.types) if client.types is not None else "*"})


def _error(text: str) -> str:
    return make_message(ERROR, {"error": text})


def _peer(ws: ServerConnection) -> str:
    try:
        host, port = ws.remote_address[:2]
        return f"{host}:{port}"
    except (TypeError, ValueError, IndexError):
        return "?"
