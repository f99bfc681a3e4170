"""Redis pub/sub -> event loop: a reader thread subscribed to ``KeySpace.events``.

redis-py's pub/sub is blocking, and only ``state/store.py`` may import redis, so the guarded client's
``pubsub()`` is read in a daemon thread that hands each payload to the event loop with
``call_soon_threadsafe``. A lost Redis connection is retried with capped backoff; ``on_resubscribed``
runs (on the loop) after a reconnect so the server can resend a snapshot for what clients missed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.state import Store

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how long one get_message() waits; bounds how fast stop() is noticed
RETRY_MIN_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0


class RedisBridge:
    """Forward every message on ``channel`` to ``deliver(text)`` on ``loop`` until ``stop()``."""

    def __init__(self, store: Store, channel: str, loop: asyncio.AbstractEventLoop,
                 deliver: Callable[[str], None], on_resubscribed: Callable[[], None] | None = None) -> None:
        self.store = store
        self.channel = channel
        self.loop = loop
        self.deliver = deliver
        self.on_resubscribed = on_resubscribed
        self.connected = threading.Event()
        self.received_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="realtime-redis-bridge", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = POLL_SECONDS * 4) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        delay = RETRY_MIN_SECONDS
        subscribed_before, warned = False, False
        while not self._stop.is_set():
            pubsub: Any = None
            try:
                pubsub = self.store.r.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self.connected.set()
                if subscribed_before and self.on_resubscribed is not None:
                    self.loop.call_soon_threadsafe(self.on_resubscribed)
                subscribed_before, warned, delay = True, False, RETRY_MIN_SECONDS
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=POLL_SECONDS)
                    if message and message.get("type") == "message":
                        self.received_total += 1
                        self.loop.call_soon_threadsafe(self.deliver, message["data"])
            except StateError as exc:
                if not warned:  # once per outage, not once per retry
                    log.warning("realtime: Redis pub/sub unavailable (%s); retrying", exc)
                    warned = True
                self.connected.clear()
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
            except RuntimeError:  # the loop closed under us: the server is stopping
                return
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except StateError:
                        pass
        self.connected.clear()
