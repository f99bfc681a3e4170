"""The trader-side shipper: an in-process buffer, batches, one Celery task per batch, a journal.

``add()`` is the whole cost a ``record_*`` call pays after validation: a flag read and a deque append
(thread-safe in CPython). Two daemon threads do the rest, so a slow or dead broker never reaches the caller:

- the batcher, every ``trader.flush_interval_seconds``: cuts the buffer into batches of at most
  ``trader.batch_max_records`` and queues them in memory (the outbox) while the broker is reachable and
  fewer than ``trader.buffer_max_records`` records wait there; otherwise, and for as long as the journal
  holds anything (to keep the order), batches go to the journal file. It also adds the heartbeat
  (which carries this client's journal size, refusals, re-sends and send failures: ``client_stats()``)
  and, every ``trader.host_metrics_interval_seconds``, this host's system metrics.
  When the journal takes nothing more (``trader.journal_max_bytes`` reached, or it cannot be written),
  the records stay in the buffer, in order, and are retried every ``JOURNAL_RETRY_SECONDS`` and as soon
  as the sender frees journal space.
  Once the broker is unreachable (a send failed, or a send or confirmation has hung for half of
  ``trader.journal_sync_seconds``), the batcher moves the outbox into the journal, ahead of what it
  holds, and fsyncs the journal at least every half ``trader.journal_sync_seconds``: every record
  accepted is then on disk within ``journal_sync_seconds`` and stays there until it is delivered, so a
  trader killed (-9) during an outage loses at most that much, and the next client started on the same
  journal_dir delivers it. A batch both journaled and sent (a hung send that succeeded after all) keeps
  its batch id and trade ids, so the worker counts it once. While the broker is up, nothing of this
  touches ``add()`` or the disk.
- the sender: delivers the outbox, then the journal, oldest first, as ``workers.ingest.ingest_batch``
  tasks; on failure it waits (exponential backoff up to ``MAX_BACKOFF_SECONDS``) and tries again.
  Sent batches that no worker records in time (the broker lost them) are sent again (inflight.py).
- with ``trader.fallback_channels`` set, the fallback (fallback.py): when no worker has recorded a batch
  for ``trader.pipeline_stale_seconds``, it tells those channels itself, directly, and again when one does.

Backpressure: while the journal takes nothing more, ``add()`` also checks memory, and once the buffer
and outbox hold ``trader.buffer_max_records`` it raises ``BackpressureError`` instead of accepting the
record; so a record is either accepted (and delivered) or refused at the call, and neither memory nor
disk grows without bound. Acceptance resumes by itself as the backlog drains.

``stop()`` delivers what is left for up to ``trader.stop_timeout_seconds`` and waits (up to
``STOP_CONFIRM_SECONDS``) for workers to record the batches sent; whatever is still undelivered or
unrecorded is written to the journal and sent by the next client started on the same journal_dir.
Delivery is at-least-once; the worker makes it exactly-once in effect (batch and trade ids).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.context import hostname
from graphwiz_monitoring.errors import BackpressureError
from graphwiz_monitoring.metrics.codec import to_columns
from graphwiz_monitoring.metrics.models import new_id, parse
from graphwiz_monitoring.trader.fallback import PipelineFallback
from graphwiz_monitoring.trader.inflight import Confirm, InFlight
from graphwiz_monitoring.trader.journal import Journal
from graphwiz_monitoring.trader.sender import Sender, count_records

log = logging.getLogger(__name__)

MIN_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0
CONFIRM_INTERVAL_SECONDS = 1.0  # how often sent batches are looked up among those workers recorded
STOP_CONFIRM_SECONDS = 2.0  # stop() waits this long at most for workers to record the last batches sent
JOURNAL_RETRY_SECONDS = 1.0  # a full or failing journal is tried again this often (and when space is freed)
# A record reaches the journal within one flush interval, and the fsync follows within half of
# trader.journal_sync_seconds (so with the scheduling delays of a busy host it stays within the whole).
SYNC_FRACTION = 0.5


class MetricsClient:
    """Buffer + batcher + sender; see the module docstring."""

    def __init__(self, settings: Settings, sender: Sender, host: str | None = None,
                 confirm: Confirm | None = None) -> None:
        """``confirm`` tells which sent batches workers recorded (``redis_confirm``); without it, none is re-sent."""
        self.settings = settings
        trader = settings.trader
        self._sender = sender
        self._inflight = (InFlight(confirm, trader.resend_unconfirmed_after_seconds, trader.buffer_max_records)
                          if confirm is not None else None)
        self._next_check = 0.0
        # The trader's own fallback (trader/fallback.py): needs the confirmation to know batches were recorded.
        self.fallback = (PipelineFallback(settings, self.pipeline_progress, identity=trader.name or host)
                         if trader.fallback_channels and self._inflight is not None else None)
        self._host = host or hostname()
        self.identity = trader.name or self._host  # as health.trader_identity(): the `trader` of its reports
        self._batch_max = trader.batch_max_records
        self._memory_max = trader.buffer_max_records
        self._buffer: deque[tuple[str, dict[str, Any]]] = deque()
        self._outbox: deque[tuple[dict[str, Any], int]] = deque()  # (batch, records in it)
        self._outbox_records = 0
        self._journal = Journal(trader.journal_dir, trader.journal_max_bytes)
        # _gated: the journal takes no batch now (full, or _journal_error); add() then checks the memory bound.
        self._journal_error: str | None = None
        self._gated = False
        self._retry_at = 0.0  # monotonic time of the next journal attempt while gated
        self._refusing = False  # between the first refusal and the resume log
        self._down_since: float | None = None  # monotonic time of the first failed send of the current outage
        # monotonic start of the sender's current call to the broker (a send, or the in-flight confirmation)
        self._waiting_since: float | None = None
        self._sync_after = trader.journal_sync_seconds * SYNC_FRACTION
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._batcher_done = threading.Event()  # stop(): the batcher has cut its last batch
        self._sender_done = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._cutting = False
        self._start_lock = threading.Lock()
        # Counters (int) and last_error (text or None); client_stats() is what the heartbeat reports of them.
        self.stats: dict[str, Any] = {"accepted": 0, "batches_sent": 0, "records_sent": 0, "send_failures": 0,
                                      "journaled_batches": 0, "journal_bytes": 0, "refused": 0, "resent_batches": 0,
                                      "journal_syncs": 0, "journal_corrupt_lines": 0, "last_error": None}

    # ------------------------------------------------------------ hot path
    def add(self, kind: str, data: dict[str, Any]) -> None:
        """Queue one validated record; never blocks on the network.

        Raises BackpressureError when memory and the journal are both at their bounds (see the module docstring).
        """
        if self._gated:
            self._admit()
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
            self._batcher_done = threading.Event()
            with self._lock:
                self._journal_ok()
                try:
                    self._journal.open()  # adopt undelivered batches of earlier processes
                except OSError as exc:  # unwritable journal_dir: keep going; memory is then the only bound
                    self._journal_failed(f"{type(exc).__name__}: {exc}")
                self.stats["journal_bytes"] = self._journal.size
            self._threads = [
                threading.Thread(target=self._batch_loop, args=(self._stopping,), name="graphwiz-batcher", daemon=True),
                threading.Thread(target=self._send_loop, args=(self._batcher_done, self._sender_done),
                                 name="graphwiz-sender", daemon=True)]
            for thread in self._threads:
                thread.start()
            if self.fallback is not None:
                self.fallback.start()
            atexit.register(self.stop)
            self._started = True

    def stop(self, timeout: float | None = None) -> bool:
        """Deliver what is queued (up to ``timeout``), journal the rest; True when workers recorded everything."""
        with self._start_lock:
            if not self._started:
                return True
            atexit.unregister(self.stop)
            deadline = time.monotonic() + (self.settings.trader.stop_timeout_seconds if timeout is None else timeout)
            self._stopping.set()
            if self.fallback is not None:
                self.fallback.stop()
            self._threads[0].join()  # the batcher moves the last records into batches, then exits
            # Only now may the sender take "nothing queued" for "all delivered": before, the batcher's last
            # batch (the final heartbeat, records added just before stop()) may still be on its way.
            self._batcher_done.set()
            with self._work:
                self._work.notify_all()
            delivered = self._sender_done.wait(max(0.0, deadline - time.monotonic()))
            self._sender_done.set()  # the sender exits after its current attempt
            self._threads[1].join(timeout=max(1.0, self.settings.redis.socket_timeout_seconds + 1))
            unrecorded = self._unrecorded_at_stop(deadline if delivered else None)
            with self._lock:
                # Oldest first: sent but unrecorded batches, then those never sent.
                leftover = unrecorded + [batch for batch, _ in self._outbox]
                self._outbox.clear()
                self._outbox_records = 0
                # Accepted records: into the journal over its bound rather than lost, ahead of what it holds.
                lost = 0
                if leftover and not self._spill_front(leftover, force=True):
                    lost = sum(count_records(batch) for batch in leftover if not self._spill(batch, force=True))
                if lost:
                    log.error("%d accepted record(s) lost at stop: the journal %s", lost,
                              self._journal_state(self._journal_error))
                journaled = self._journal.pending
                self._journal.close()
            self._started = False
            if journaled:
                log.warning("monitoring client stopped with %d undelivered batch(es) journaled in %s",
                            journaled, self.settings.trader.journal_dir)
            return not journaled and not lost

    def _unrecorded_at_stop(self, deadline: float | None) -> list[dict[str, Any]]:
        """Sent batches no worker has recorded by ``deadline`` (at most STOP_CONFIRM_SECONDS away), to journal.

        ``deadline`` None: the broker failed meanwhile, so Redis is not asked and every one is kept. A kept
        batch that did arrive is recognised by its id when the next client sends it again.
        """
        if self._inflight is None or not self._inflight:
            return []
        wait = 0.0 if deadline is None else min(STOP_CONFIRM_SECONDS, max(0.0, deadline - time.monotonic()))
        unrecorded = [batch for batch, _ in self._inflight.settle(wait)]
        if unrecorded:
            log.info("%d sent batch(es) not yet recorded by a worker are kept in the journal; the next client "
                     "sends them again and workers skip those already recorded", len(unrecorded))
        return unrecorded

    def pipeline_progress(self) -> tuple[bool, int] | None:
        """(whether anything waits to be recorded by a worker: sent and unrecorded, queued or journaled; how many
        sent batches workers have recorded so far), for the fallback (trader/fallback.py); None without ``confirm``."""
        inflight = self._inflight
        if inflight is None:
            return None
        with self._lock:
            waiting = bool(inflight) or bool(self._outbox) or bool(self._buffer) or self._journal.pending > 0
        return waiting, inflight.recorded

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
            room = not (self._gated and self.pending_records >= self._memory_max)  # status obeys the bound too
            if now >= next_heartbeat or stopping:
                next_heartbeat = now + trader.heartbeat_interval_seconds
                if room:
                    self._add_heartbeat()
            if now >= next_host and not stopping:
                next_host = now + trader.host_metrics_interval_seconds
                if room:
                    self._add_host_sample()
            if self._outbox and self._unreachable():
                self._outbox_to_journal()
            self._cut_batches(force=stopping)  # stopping: the journal takes the rest, over its bound if need be
            if self._journal.unsynced_since is not None:
                self._sync_journal()
            if stopping:
                return

    def client_stats(self) -> dict[str, int]:
        """What the heartbeat reports of this client (models.ClientStats; exported as graphwiz_trader_*)."""
        stats = self.stats
        return {"journal_bytes": stats["journal_bytes"], "journal_max_bytes": self.settings.trader.journal_max_bytes,
                "refused": stats["refused"], "resent_batches": stats["resent_batches"],
                "send_failures": stats["send_failures"], "pending_records": self.pending_records}

    def _add_heartbeat(self) -> None:
        data = {"host": self._host, "pid": os.getpid(), "timestamp": time.time(), "client": self.client_stats()}
        self._buffer.append(("heartbeat", parse("heartbeat", data).wire()))

    def _add_host_sample(self) -> None:
        try:
            from graphwiz_monitoring.metrics.system import collect_host_sample

            self._buffer.append(("system", collect_host_sample(self._host).wire()))
        except Exception as exc:  # host metrics are best effort; trades are not
            log.warning("host metrics not collected: %s", exc)

    def _cut_batches(self, force: bool = False) -> None:
        buffer = self._buffer
        self._cutting = True  # records popped but not yet queued still count as pending for flush()
        try:
            self._cut(buffer, force)
        finally:
            self._cutting = False

    def _cut(self, buffer: deque[tuple[str, dict[str, Any]]], force: bool) -> None:
        while buffer:
            n = min(len(buffer), self._batch_max)
            if self._gated and not force:
                with self._lock:
                    if self._needs_journal(n) and time.monotonic() < self._retry_at:
                        return  # the journal refused a moment ago: the records wait in the buffer, in order
            items = [buffer.popleft() for _ in range(n)]
            records: list[dict[str, Any]] = []
            trades: list[dict[str, Any]] = []
            for kind, data in items:
                if kind == "trade":
                    trades.append(data)
                else:
                    records.append({"kind": kind, "data": data})
            if trades:  # one columnar record: a third of the JSON cost of one dict per trade
                records.insert(0, {"kind": "trades", "data": to_columns(trades)})
            if not self._enqueue({"batch_id": new_id(), "trader": self.identity, "records": records}, n, force):
                buffer.extendleft(reversed(items))  # back in front, in order: accepted records are never dropped
                return

    def _needs_journal(self, n: int) -> bool:
        """Whether n more records must go to the journal (caller holds the lock): memory full, journal in use,
        or the broker unreachable."""
        return bool(self._journal.pending) or self._outbox_records + n > self._memory_max or self._unreachable()

    def _unreachable(self) -> bool:
        """The broker is unreachable: the last send failed, or the sender's current call has hung too long."""
        waiting = self._waiting_since
        return self._down_since is not None or (waiting is not None
                                                and time.monotonic() - waiting >= self._sync_after)

    # ------------------------------------------------------------ on disk while the broker is unreachable
    def _outbox_to_journal(self) -> None:
        """Move the outbox (older than anything journaled) to the journal's head, and fsync it at once."""
        with self._lock:
            if not self._outbox or (self._gated and time.monotonic() < self._retry_at):
                return
            # A batch the sender is sending right now is journaled too: should that send succeed after all,
            # its journaled copy is sent again with the same batch id and trade ids, and counted once.
            if not self._spill_front([batch for batch, _ in self._outbox], force=False):
                return
            self._outbox.clear()
            self._outbox_records = 0
            waiting = self._waiting_since
            reason = (self.stats["last_error"] if self._down_since is not None or waiting is None
                      else f"a send has not returned for {time.monotonic() - waiting:.1f} s")
            log.warning("broker unreachable (%s): undelivered records are kept in the journal in %s until "
                        "delivered", reason, self.settings.trader.journal_dir)
        self._sync_journal(force=True)

    def _sync_journal(self, force: bool = False) -> None:
        """fsync the journal once its oldest unsynced write is half of trader.journal_sync_seconds old."""
        with self._lock:
            since = self._journal.unsynced_since
            if since is None or (not force and time.monotonic() - since < self._sync_after):
                return
            try:
                if self._journal.sync():
                    self.stats["journal_syncs"] += 1
            except OSError as exc:
                self._journal_failed(f"fsync failed: {type(exc).__name__}: {exc}")

    def _enqueue(self, batch: dict[str, Any], n: int, force: bool = False) -> bool:
        """Queue a cut batch in order; False when it needs the journal and the journal takes nothing."""
        with self._work:
            to_memory = not self._needs_journal(n)
            if not to_memory and not self._spill(batch, force):
                if not force:
                    return False
                to_memory = True  # stopping with an unwritable journal: stop() tries it once more
            if to_memory:
                self._outbox.append((batch, n))
                self._outbox_records += n
            self.stats["accepted"] += n
            self._work.notify()
            return True

    # ------------------------------------------------------------ journal bound and backpressure
    def _spill_front(self, batches: list[dict[str, Any]], force: bool) -> bool:
        """Journal batches older than all it holds, ahead of them (caller holds the lock); False as _spill."""
        return self._journaled(lambda: self._journal.prepend(batches, force), len(batches))

    def _spill(self, batch: dict[str, Any], force: bool) -> bool:
        """Append a batch to the journal (caller holds the lock); False when it is full or cannot be written."""
        return self._journaled(lambda: self._journal.append(batch, force), 1)

    def _journaled(self, write: Callable[[], bool], batches: int) -> bool:
        try:
            written = write()
        except OSError as exc:
            self._journal_failed(f"{type(exc).__name__}: {exc}")
            return False
        if not written:
            self._journal_failed(None)
            return False
        self._journal_ok()
        self.stats["journaled_batches"] += batches
        self.stats["journal_bytes"] = self._journal.size
        return True

    def _journal_failed(self, error: str | None) -> None:
        """The journal took nothing (``error`` None: it is full); gate add() until it takes batches again."""
        if not self._gated:
            log.error("journal %s; records wait in memory, then are refused", self._journal_state(error))
        self._journal_error = error
        self._gated = True
        self._retry_at = time.monotonic() + JOURNAL_RETRY_SECONDS

    def _journal_ok(self) -> None:
        self._journal_error = None
        self._gated = False
        self._resume()

    def _journal_state(self, error: str | None) -> str:
        journal = self._journal
        used = f"{journal.size} of trader.journal_max_bytes={journal.max_bytes} bytes"
        if error is not None:
            return f"in {journal.directory} cannot be written ({error}; {used} used)"
        return f"in {journal.directory} is full ({used})"

    def _admit(self) -> None:
        """add() while the journal takes nothing: refuse once memory holds trader.buffer_max_records."""
        held = self.pending_records
        if held >= self._memory_max:
            self.stats["refused"] += 1
            error = BackpressureError(self._refusal_message())
            if not self._refusing:  # once per episode, not per call
                self._refusing = True
                log.error("%s", error)
            raise error
        if self._refusing and held <= self._memory_max // 2:  # half-way drained: not just one batch of room
            self._resume()

    def _resume(self) -> None:
        if self._refusing:
            self._refusing = False
            log.warning("accepting records again (%d refused so far)", self.stats["refused"])

    def _refusal_message(self) -> str:
        down = self._down_since
        broker = (f"the broker has been unreachable for {time.monotonic() - down:.0f} s" if down is not None
                  else "the sender has not delivered the backlog yet")
        return (f"record refused: trader.buffer_max_records={self._memory_max} records wait in memory and the journal "
                f"{self._journal_state(self._journal_error)}; {broker}. This record was not kept; those accepted "
                "before are kept and delivered, and records are accepted again as the backlog drains")

    # ------------------------------------------------------------ sender
    def _next(self) -> tuple[dict[str, Any] | None, bool]:
        """The oldest undelivered batch and whether it came from memory (caller holds the lock)."""
        if self._outbox:
            return self._outbox[0][0], True
        batch = self._journal.peek()
        self.stats["journal_corrupt_lines"] = self._journal.corrupt_lines
        return batch, False

    def _send_loop(self, batcher_done: threading.Event, done: threading.Event) -> None:
        prepare = getattr(self._sender, "prepare", None)
        if prepare is not None:
            try:
                prepare()
            except Exception as exc:  # the first send raises it again, and is retried like any failure
                log.warning("sender not prepared: %s: %s", type(exc).__name__, exc)
        backoff = MIN_BACKOFF_SECONDS
        while not done.is_set():
            self._resend_lost()
            with self._work:
                batch, in_memory = self._next()
                if batch is None:
                    if batcher_done.is_set():
                        done.set()  # everything delivered
                        return
                    self._work.wait(0.5)
                    continue
            self._waiting_since = time.monotonic()
            try:
                self._sender(batch)
            except Exception as exc:  # broker down, timeout, ...: keep the batch, wait, retry
                self._waiting_since = None
                if self._down_since is None:
                    self._down_since = time.monotonic()
                self.stats["send_failures"] += 1
                self.stats["last_error"] = f"{type(exc).__name__}: {exc}"[:300]
                done.wait(backoff)
                backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)
                continue
            self._waiting_since = None
            backoff = MIN_BACKOFF_SECONDS
            self._down_since = None
            with self._work:
                if in_memory:
                    if self._outbox and self._outbox[0][0] is batch:
                        self._outbox_records -= self._outbox.popleft()[1]
                else:
                    size = self._journal.size
                    self._journal.consume()
                    self.stats["journal_bytes"] = self._journal.size
                    if self._gated and self._journal_error is None and not self._journal.pending:
                        self._journal_ok()  # was full, now empty: it takes any batch
                    elif self._journal.size < size:
                        self._retry_at = 0.0  # disk space freed: the batcher may journal again at once
                n = count_records(batch)
                self.stats["batches_sent"] += 1
                self.stats["records_sent"] += n
            if self._inflight is not None:
                self._inflight.add(batch, n)

    def _resend_lost(self) -> None:
        """Put batches the broker accepted but lost (see inflight.py) back in front of the outbox."""
        now = time.monotonic()
        if self._inflight is None or not self._inflight or now < self._next_check:
            return
        self._next_check = now + CONFIRM_INTERVAL_SECONDS
        self._waiting_since = now  # a confirmation hanging on an unreachable Redis counts like a hung send
        try:
            lost = self._inflight.check()
        finally:
            self._waiting_since = None
        if not lost:
            return
        log.warning("%d batch(es) sent %.0f s ago or more were never recorded by a worker (lost by the broker); "
                    "sending them again", len(lost), self.settings.trader.resend_unconfirmed_after_seconds)
        with self._work:
            self._outbox.extendleft(reversed(lost))
            self._outbox_records += sum(n for _, n in lost)
            self.stats["resent_batches"] += len(lost)
