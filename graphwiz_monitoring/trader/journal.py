"""The trader's spill file: batches not delivered while the broker is unreachable (or memory is full).

Append-only JSON-lines segment files per client process (``journal-<pid>-<random>-<seq>.jsonl``
under ``trader.journal_dir``), each held with an exclusive ``flock`` so that a later process can tell
a live journal from an orphan: files whose owner died are adopted at start and delivered first
(oldest first). Batches are read back in order. The file being written is truncated once fully
delivered; a full segment (``segment_bytes``) is sealed and a new one started, and a sealed or
adopted segment is deleted once delivered, so the bytes on disk (``size``) shrink while a long
backlog drains instead of only at its very end. ``append`` refuses a batch that would take ``size``
beyond ``max_bytes`` (``trader.journal_max_bytes``), unless the journal is empty or forced.
``prepend`` writes batches older than everything journaled (the client's in-memory outbox when the
broker becomes unreachable) into a segment delivered first, and adopted first by a successor.

Writes reach the OS at once (a failed write is cut off again, so no partial line is left behind): a
crash of the trader process (kill -9) loses nothing that reached the journal. ``sync`` fsyncs what was
written since the last sync (the client calls it every ``trader.journal_sync_seconds``) and at close, so
a crash of the whole host loses at most that much. Delivered lines are dropped at close; after a crash
they are sent again (the worker ignores known batch ids and trade ids).

Reading: blank lines are ignored everywhere (the pending count and the reader agree on them); a line
that is not a JSON object is logged, counted (``corrupt_lines``) and skipped.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)

MAX_SEGMENT_BYTES = 64 * 1024 * 1024
SEGMENTS_PER_BOUND = 8  # a drain frees disk space in steps of at most 1/8 of max_bytes


class _File:
    def __init__(self, path: Path, handle: BinaryIO, sealed: bool, size: int = 0) -> None:
        self.path = path
        self.handle = handle
        self.sealed = sealed  # no more appends: deleted once delivered (adopted files, our full segments)
        self.read_offset = 0
        self.size = size  # bytes in the file, delivered lines included
        self.pending = 0  # batches written and not yet consumed


class Journal:
    """FIFO of batches on disk; not thread-safe (the client serializes access with its lock)."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int | None = None) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = MAX_SEGMENT_BYTES if max_bytes is None else \
            min(MAX_SEGMENT_BYTES, max(1, max_bytes // SEGMENTS_PER_BOUND))
        self._files: list[_File] = []
        self._own: _File | None = None
        self._opened = False
        self._prefix = ""
        self._seq = 0
        self._head: tuple[_File, int] | None = None  # (file, offset) of the line peek() returned
        self._unsynced: list[_File] = []  # written to since the last sync()
        self._dir_unsynced = False  # a segment was created since the last sync()
        self.unsynced_since: float | None = None  # monotonic time of the first write not yet fsync'ed
        self.corrupt_lines = 0  # lines skipped because they were not a JSON object (logged each)

    # ------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Create the directory, adopt orphaned journals, open this process's own file."""
        if self._opened:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        # (mtime, name): segments written within one clock tick keep their order through the sequence number.
        paths = sorted(self.directory.glob("journal-*.jsonl"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        for path in paths:
            handle = open(path, "r+b")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live client owns it
                handle.close()
                continue
            adopted = _File(path, handle, sealed=True, size=os.fstat(handle.fileno()).st_size)
            adopted.pending = sum(1 for line in handle if line.strip())  # peek() skips blank lines alike
            handle.seek(0)
            if adopted.pending:
                log.warning("adopting journal %s with %d undelivered batch(es)", path.name, adopted.pending)
                self._files.append(adopted)
            else:
                self._remove(adopted)
        self._prefix = f"journal-{os.getpid()}-{os.urandom(4).hex()}"
        self._start_segment()
        self._opened = True

    def _new_file(self) -> tuple[Path, BinaryIO]:
        path = self.directory / f"{self._prefix}-{self._seq:06d}.jsonl"
        handle = open(path, "w+b")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._seq += 1
        self._dir_unsynced = True
        return path, handle

    def _start_segment(self) -> None:
        path, handle = self._new_file()
        self._own = _File(path, handle, sealed=False)
        self._files.append(self._own)

    def close(self) -> None:
        """fsync and release; an empty file is removed, a non-empty one stays for the next process."""
        for f in self._files:
            try:
                if f.pending and f.read_offset:  # drop delivered lines so the next reader starts right
                    stat = os.stat(f.path)
                    f.handle.seek(f.read_offset)
                    rest = f.handle.read()
                    f.handle.seek(0)
                    f.handle.write(rest)
                    f.handle.truncate()
                    f.read_offset = 0
                    f.handle.flush()
                    os.utime(f.path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # keeps the adoption order
                f.handle.flush()
                os.fsync(f.handle.fileno())
            except OSError:
                pass
            if f.pending == 0:
                self._remove(f)
            else:
                f.handle.close()  # closing releases the flock: the next client adopts it
        self._files = []
        self._own = None
        self._head = None
        self._unsynced = []
        self._dir_unsynced = False
        self.unsynced_since = None
        self._opened = False

    # ------------------------------------------------------------ queue
    @property
    def pending(self) -> int:
        """Batches written and not yet consumed."""
        return sum(f.pending for f in self._files)

    @property
    def size(self) -> int:
        """Bytes the journal takes on disk (delivered lines of a partly delivered segment included)."""
        return sum(f.size for f in self._files)

    def append(self, batch: dict[str, Any], force: bool = False) -> bool:
        """Write a batch; False (nothing written) when it would take ``size`` beyond ``max_bytes``.

        An empty journal takes any batch, so one batch larger than the bound cannot block it forever;
        ``force`` ignores the bound (stop(): records already accepted). Raises OSError when the write
        fails (disk full, unwritable directory).
        """
        line = json.dumps(batch, separators=(",", ":")).encode() + b"\n"
        self.open()
        size = self.size
        if not force and self.max_bytes is not None and size and size + len(line) > self.max_bytes:
            return False
        assert self._own is not None
        if self._own.size and self._own.size + len(line) > self.segment_bytes:
            self._own.sealed = True
            self._start_segment()
        own = self._own
        fd = own.handle.fileno()
        # pwrite past the end, beside the buffered reader: a failed write is cut off again here, instead of
        # staying in a write buffer (to be flushed later) or on disk as a partial line glued to the next one.
        written = 0
        try:
            while written < len(line):
                written += os.pwrite(fd, line[written:], own.size + written)
        except OSError:
            try:
                os.ftruncate(fd, own.size)
            except OSError:
                log.error("journal %s: could not cut off a failed write", own.path.name)
            raise
        own.size += len(line)
        own.pending += 1
        self._written(own)
        return True

    def prepend(self, batches: list[dict[str, Any]], force: bool = False) -> bool:
        """Write batches that are older than everything journaled, to be delivered (and adopted) first.

        Same bound and errors as ``append``, for all of them at once: False (nothing written) when they do
        not fit. They go to a segment of their own, sealed, placed at the head of the queue; its mtime is
        set just before the oldest segment's, so that a successor adopting the files keeps the order too.
        """
        if not batches:
            return True
        data = b"".join(json.dumps(batch, separators=(",", ":")).encode() + b"\n" for batch in batches)
        self.open()
        size = self.size
        if not force and self.max_bytes is not None and size and size + len(data) > self.max_bytes:
            return False
        path, handle = self._new_file()
        try:
            handle.write(data)
            handle.flush()
            if self._files:
                oldest = min(os.fstat(f.handle.fileno()).st_mtime_ns for f in self._files)
                os.utime(path, ns=(time.time_ns(), oldest - 1000))
        except OSError:
            self._remove(_File(path, handle, sealed=True))
            raise
        head = _File(path, handle, sealed=True, size=len(data))
        head.pending = len(batches)
        self._files.insert(0, head)
        self._written(head)
        return True

    def _written(self, f: _File) -> None:
        if f not in self._unsynced:
            self._unsynced.append(f)
        if self.unsynced_since is None:
            self.unsynced_since = time.monotonic()

    def sync(self) -> bool:
        """fsync what was written since the last sync (and the directory when a segment was created).

        True when something was synced. Raises OSError when the disk refuses (the caller treats the
        journal as failed).
        """
        if self.unsynced_since is None:
            return False
        for f in self._unsynced:
            if not f.handle.closed:  # a delivered segment already removed needs nothing
                os.fsync(f.handle.fileno())
        if self._dir_unsynced:  # a new file survives a host crash only once its directory entry is on disk
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._unsynced = []
        self._dir_unsynced = False
        self.unsynced_since = None
        return True

    def peek(self) -> dict[str, Any] | None:
        """The oldest undelivered batch; blank lines are passed over, unparseable ones logged and counted."""
        self._head = None
        while self._files:
            f = self._files[0]
            if f.pending <= 0:
                if f.sealed:
                    self._drop_head()
                    continue
                return None
            f.handle.seek(f.read_offset)
            line = f.handle.readline()
            if not line:  # fewer lines than counted: nothing more to read in this file
                f.pending = 0
                continue
            if not line.strip():  # not counted in pending (open() skips them too): not a batch, not corrupt
                self._advance(f, len(line), batch=False)
                continue
            try:
                batch = json.loads(line)
                if isinstance(batch, dict):
                    self._head = (f, f.read_offset)
                    return batch
            except ValueError:
                pass
            self.corrupt_lines += 1
            log.error("skipping a corrupt journal line in %s at offset %d (%d bytes, not a JSON object): the "
                      "records in it are lost", f.path.name, f.read_offset, len(line))
            self._advance(f, len(line))
        return None

    def consume(self) -> None:
        """Mark the batch returned by the last ``peek`` as delivered.

        Nothing happens when that batch is no longer the head (``prepend`` put older batches in front, or
        nothing was peeked): consuming the wrong line would lose a batch that was never sent.
        """
        head, self._head = self._head, None
        if not self._files or head is None or head[0] is not self._files[0] or head[1] != self._files[0].read_offset:
            return
        f = self._files[0]
        f.handle.seek(f.read_offset)
        self._advance(f, len(f.handle.readline()))

    def _advance(self, f: _File, length: int, batch: bool = True) -> None:
        f.read_offset += length
        if batch:
            f.pending = max(0, f.pending - 1)
        if f.pending:
            return
        if f.sealed:  # delivered: its disk space is free at once
            self._drop_head()
        else:  # all delivered: start the file over
            f.handle.seek(0)
            f.handle.truncate()
            f.read_offset = 0
            f.size = 0

    def _drop_head(self) -> None:
        self._remove(self._files.pop(0))

    def _remove(self, f: _File) -> None:
        try:
            f.handle.close()
            f.path.unlink()
        except OSError:
            pass
