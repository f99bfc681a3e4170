"""The trader-side shipper: an in-process buffer, batches, one Celery task per batch, a journal.

``add()`` is the whole cost a ``record_*`` call pays after validation: a deque append (thread-safe
in CPython). Two daemon threads do the rest, so a slow or dead broker never reaches the caller:

- the batcher, every ``trader.flush_interval_seconds``: cuts the buffer into batches of at most
  ``trader.batch_max_records`` and queues them in memory (the outbox) while fewer than
  ``trader.buffer_max_records`` records wait there; beyond that, and for as long as the journal
  holds anything (to keep the order), batches go to the journal file. It also adds the heartbeat
  and, every ``trader.host_metrics_interval_seconds``, this host's system metrics.
- the sender: delivers the outbox, then the journal, oldest first, as ``workers.ingest.ingest_batch``
  tasks; on failure it waits (exponential backoff up to ``MAX_BACKOFF_SECONDS``) and tries again.

``stop()`` delivers what is left for up to ``trader.stop_timeout_seconds``; whatever is still
undelivered is written to the journal and sent by the next client started on the same journal_dir.
Delivery is at-least-once; the worker makes it exactly-once in effect (batch and trade ids).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..context import hostname
from ..errors import ValidationError
from .codec import to_columns
from .journal import Journal
from .models import new_id, parse

log = logging.getLogger(__name__)

INGEST_TASK = "workers.ingest.ingest_batch"
MIN_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0

Sender = Callable[[dict[str, Any]], None]


def count_records(batch: dict[str, Any]) -> int:
    """Records in a batch, counting each trade of a columnar ``trades`` record."""
    total = 0
    for record in batch.get("records", ()):
        data = record.get("data") if isinstance(record, dict) else None
        if isinstance(record, dict) and record.get("kind") == "trades" and isinstance(data, dict):
            total += len(data.get("symbol") or ())
        else:
            total += 1
    return total


def celery_sender(settings: Settings) -> Sender:
    """Publish a batch with the trader's own Celery app (imported on first use, kept)."""
    state: dict[str, Any] = {}

    def send(batch: dict[str, Any]) -> None:
        if "app" not in state:
            from ..celery import create_app
            from ..celery import send as send_task

            state["app"], state["send"] = create_app(settings), send_task
        # As JSON text: Celery's main worker process then passes one string to the pool instead of
        # decoding and pickling thousands of values (the task accepts a dict too).
        state["send"](INGEST_TASK, json.dumps(batch, separators=(",", ":")), celery_app=state["app"])

    return send


class MetricsClient:
    """Buffer + batcher + sender; see the module docstring."""

    def __init__(self, settings: Settings, sender: Sender | None = None, host: str | None = None) -> None:
        self.settings = settings
        trader = settings.trader
        self._sender = sender or celery_sender(settings)
        self._host = host or hostname()
        self._batch_max = trader.batch_max_records
        self._memory_max = trader.buffer_max_records
        self._buffer: deque[tuple[str, dict[str, Any]]] = deque()
        self._outbox: deque[tuple[dict[str, Any], int]] = deque()  # (batch, records in it)
        self._outbox_records = 0
        self._journal = Journal(trader.journal_dir)
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._sender_done = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._cutting = False
        self._start_lock = threading.Lock()
        self.heartbeat_info: dict[str, Any] = {}  # small status fields the heartbeat carries (health area)
        self.stats = {"accepted": 0, "batches_sent": 0, "records_sent": 0, "send_failures": 0,
                      "journaled_batches": 0, "last_error": None}

    # ------------------------------------------------------------ hot path
    def add(self, kind: str, data: dict[str, Any]) -> None:
        """Queue one validated record; never blocks on the network, never raises for Redis."""
        self._buffer.append((kind, data))
        if not self._started:
            self.start()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        with self._start_lock:
            if self._started:
                return
            # Fresh events per run: a sender still stuck in a send from a previous run stays stopped.
            self._stopping, self._sender_done = threading.Event(), threading.Event()
            with self._lock:
                try:
                    self._journal.open()  # adopt undelivered batches of earlier processes
                except OSError as exc:  # unwritable journal_dir: keep going; overflow then stays in memory
                    log.error("journal %s unusable: %s", self.settings.trader.journal_dir, exc)
            self._threads = [
                threading.Thread(target=self._batch_loop, args=(self._stopping,), name="graphwiz-batcher", daemon=True),
                threading.Thread(target=self._send_loop, args=(self._stopping, self._sender_done),
                                 name="graphwiz-sender", daemon=True)]
            for thread in self._threads:
                thread.start()
            atexit.register(self.stop)
            self._started = True

    def stop(self, timeout: float | None = None) -> bool:
        """Deliver what is queued (up to ``timeout``), journal the rest; True when everything was delivered."""
        with self._start_lock:
            if not self._started:
                return True
            atexit.unregister(self.stop)
            deadline = time.monotonic() + (self.settings.trader.stop_timeout_seconds if timeout is None else timeout)
            self._stopping.set()
            self._threads[0].join()  # the batcher moves the last records into batches, then exits
            with self._work:
                self._work.notify_all()
            self._sender_done.wait(max(0.0, deadline - time.monotonic()))
            with self._lock:
                self._sender_done.set()  # the sender exits after its current attempt
                leftover = [batch for batch, _ in self._outbox]
                self._outbox.clear()
                self._outbox_records = 0
                for batch in leftover:
                    self._journal.append(batch)
                    self.stats["journaled_batches"] += 1
                delivered = self._journal.pending == 0
                self._journal.close()
            self._threads[1].join(timeout=max(1.0, self.settings.redis.socket_timeout_seconds + 1))
            self._started = False
            if not delivered:
                log.warning("monitoring client stopped with undelivered batches journaled in %s",
                            self.settings.trader.journal_dir)
            return delivered

    @property
    def pending_records(self) -> int:
        """Records not yet delivered that are held in memory (buffer + outbox)."""
        return len(self._buffer) + self._outbox_records

    @property
    def journal_pending(self) -> int:
        with self._lock:
            return self._journal.pending

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything recorded so far is delivered (tests, shutdown); True on success."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                idle = (not self._buffer and not self._cutting and not self._outbox
                        and self._journal.pending == 0)
            if idle:
                return True
            time.sleep(0.01)
        return False

    # ------------------------------------------------------------ batcher
    def _batch_loop(self, stop: threading.Event) -> None:
        trader = self.settings.trader
        next_heartbeat = next_host = time.monotonic()
        while True:
            stopping = stop.wait(trader.flush_interval_seconds)
            now = time.monotonic()
            if now >= next_heartbeat or stopping:
                next_heartbeat = now + trader.heartbeat_interval_seconds
                self._add_heartbeat()
            if now >= next_host and not stopping:
                next_host = now + trader.host_metrics_interval_seconds
                self._add_host_sample()
            self._cut_batches()
            if stopping:
                return

    def _add_heartbeat(self) -> None:
        data = {"host": self._host, "pid": os.getpid(), "timestamp": time.time(), "info": dict(self.heartbeat_info)}
        try:
            self._buffer.append(("heartbeat", parse("heartbeat", data).wire()))
        except ValidationError as exc:  # bad info fields: still report liveness, without them
            log.warning("heartbeat info dropped: %s", exc)
            data["info"] = {}
            self._buffer.append(("heartbeat", data))

    def _add_host_sample(self) -> None:
        try:
            from .system import collect_host_sample

            self._buffer.append(("system", collect_host_sample(self._host).wire()))
        except Exception as exc:  # host metrics are best effort; trades are not
            log.warning("host metrics not collected: %s", exc)

    def _cut_batches(self) -> None:
        buffer = self._buffer
        self._cutting = True  # records popped but not yet queued still count as pending for flush()
        try:
            self._cut(buffer)
        finally:
            self._cutting = False

    def _cut(self, buffer: deque[tuple[str, dict[str, Any]]]) -> None:
        while buffer:
            n = min(len(buffer), self._batch_max)
            popleft = buffer.popleft
            records: list[dict[str, Any]] = []
            trades: list[dict[str, Any]] = []
            for _ in range(n):
                kind, data = popleft()
                if kind == "trade":
                    trades.append(data)
                else:
                    records.append({"kind": kind, "data": data})
            if trades:  # one columnar record: a third of the JSON cost of one dict per trade
                records.insert(0, {"kind": "trades", "data": to_columns(trades)})
            self._enqueue({"batch_id": new_id(), "records": records}, n)

    def _enqueue(self, batch: dict[str, Any], n: int) -> None:
        with self._work:
            self.stats["accepted"] += n
            if self._journal.pending or self._outbox_records + n > self._memory_max:
                try:
                    self._journal.append(batch)
                    self.stats["journaled_batches"] += 1
                except OSError as exc:  # disk full / unwritable: keep it in memory rather than lose it
                    log.error("journal write failed (%s); keeping the batch in memory", exc)
                    self._outbox.append((batch, n))
                    self._outbox_records += n
            else:
                self._outbox.append((batch, n))
                self._outbox_records += n
            self._work.notify()

    # ------------------------------------------------------------ sender
    def _next(self) -> tuple[dict[str, Any] | None, bool]:
        """The oldest undelivered batch and whether it came from memory (caller holds the lock)."""
        if self._outbox:
            return self._outbox[0][0], True
        return self._journal.peek(), False

    def _send_loop(self, stopping: threading.Event, done: threading.Event) -> None:
        backoff = MIN_BACKOFF_SECONDS
        while not done.is_set():
            with self._work:
                batch, in_memory = self._next()
                if batch is None:
                    if stopping.is_set():
                        done.set()  # everything delivered
                        return
                    self._work.wait(0.5)
                    continue
            try:
                self._sender(batch)
            except Exception as exc:  # broker down, timeout, ...: keep the batch, wait, retry
                self.stats["send_failures"] += 1
                self.stats["last_error"] = f"{type(exc).__name__}: {exc}"[:300]
                done.wait(backoff)
                backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)
                continue
            backoff = MIN_BACKOFF_SECONDS
            with self._work:
                if in_memory:
                    if self._outbox and self._outbox[0][0] is batch:
                        self._outbox_records -= self._outbox.popleft()[1]
                else:
                    self._journal.consume()
                self.stats["batches_sent"] += 1
                self.stats["records_sent"] += count_records(batch)
