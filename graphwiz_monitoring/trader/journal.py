"""The trader's spill file: batches that do not fit in memory while the broker is unreachable.

Append-only JSON-lines segment files per client process (``journal-<pid>-<random>-<seq>.jsonl``
under ``trader.journal_dir``), each held with an exclusive ``flock`` so that a later process can tell
a live journal from an orphan: files whose owner died are adopted at start and delivered first
(oldest first). Batches are read back in order. The file being written is truncated once fully
delivered; a full segment (``segment_bytes``) is sealed and a new one started, and a sealed or
adopted segment is deleted once delivered, so the bytes on disk (``size``) shrink while a long
backlog drains instead of only at its very end. ``append`` refuses a batch that would take ``size``
beyond ``max_bytes`` (``trader.journal_max_bytes``), unless the journal is empty or forced.

Writes reach the OS at once (a failed write is cut off again, so no partial line is left behind) and
are fsync'ed at close: a crash of the trader process loses nothing that reached the journal; a crash
of the whole host may lose the last moments. Delivered lines are dropped at close; after a crash they
are sent again (the worker ignores known batch ids).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
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
            adopted.pending = sum(1 for line in handle if line.strip())
            handle.seek(0)
            if adopted.pending:
                log.warning("adopting journal %s with %d undelivered batch(es)", path.name, adopted.pending)
                self._files.append(adopted)
            else:
                self._remove(adopted)
        self._prefix = f"journal-{os.getpid()}-{os.urandom(4).hex()}"
        self._start_segment()
        self._opened = True

    def _start_segment(self) -> None:
        path = self.directory / f"{self._prefix}-{self._seq:06d}.jsonl"
        handle = open(path, "w+b")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._seq += 1
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
        return True

    def peek(self) -> dict[str, Any] | None:
        """The oldest undelivered batch (unparseable lines are skipped and logged)."""
        while self._files:
            f = self._files[0]
            if f.pending <= 0:
                if f.sealed:
                    self._drop_head()
                    continue
                return None
            f.handle.seek(f.read_offset)
            line = f.handle.readline()
            if not line:
                f.pending = 0
                continue
            try:
                batch = json.loads(line)
                if isinstance(batch, dict):
                    return batch
            except ValueError:
                pass
            log.error("skipping a corrupt journal line in %s at offset %d", f.path.name, f.read_offset)
            self._advance(f, len(line))
        return None

    def consume(self) -> None:
        """Mark the batch returned by ``peek`` as delivered."""
        if not self._files:
            return
        f = self._files[0]
        f.handle.seek(f.read_offset)
        self._advance(f, len(f.handle.readline()))

    def _advance(self, f: _File, length: int) -> None:
        f.read_offset += length
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
