"""The trader's spill file: batches that do not fit in memory while the broker is unreachable.

One append-only JSON-lines file per client process (``journal-<pid>-<random>.jsonl`` under
``trader.journal_dir``), held with an exclusive ``flock`` so that a later process can tell a live
journal from an orphan: files whose owner died are adopted at start and delivered first (oldest
first). Batches are read back in order; a file is truncated (own) or deleted (adopted) once fully
delivered. Writes are flushed to the OS at once and fsync'ed at close: a crash of the trader process
loses nothing that reached the journal; a crash of the whole host may lose the last moments. Delivered
lines are dropped at close; after a crash they are sent again (the worker ignores known batch ids).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)


class _File:
    def __init__(self, path: Path, handle: BinaryIO, adopted: bool) -> None:
        self.path = path
        self.handle = handle
        self.adopted = adopted
        self.read_offset = 0
        self.pending = 0  # batches written and not yet consumed (counted lazily for adopted files)


class Journal:
    """FIFO of batches on disk; not thread-safe (the client serializes access with its lock)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._files: list[_File] = []
        self._own: _File | None = None
        self._opened = False

    # ------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Create the directory, adopt orphaned journals, open this process's own file."""
        if self._opened:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.directory.glob("journal-*.jsonl"), key=lambda p: p.stat().st_mtime):
            handle = open(path, "r+b")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live client owns it
                handle.close()
                continue
            adopted = _File(path, handle, adopted=True)
            adopted.pending = sum(1 for line in handle if line.strip())
            handle.seek(0)
            if adopted.pending:
                log.warning("adopting journal %s with %d undelivered batch(es)", path.name, adopted.pending)
                self._files.append(adopted)
            else:
                self._remove(adopted)
        own_path = self.directory / f"journal-{os.getpid()}-{os.urandom(4).hex()}.jsonl"
        handle = open(own_path, "w+b")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._own = _File(own_path, handle, adopted=False)
        self._files.append(self._own)
        self._opened = True

    def close(self) -> None:
        """fsync and release; an empty own file is removed, a non-empty one stays for the next process."""
        for f in self._files:
            try:
                if f.pending and f.read_offset:  # drop delivered lines so the next reader starts right
                    f.handle.seek(f.read_offset)
                    rest = f.handle.read()
                    f.handle.seek(0)
                    f.handle.write(rest)
                    f.handle.truncate()
                    f.read_offset = 0
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

    def append(self, batch: dict[str, Any]) -> None:
        self.open()
        assert self._own is not None
        handle = self._own.handle
        handle.seek(0, os.SEEK_END)
        handle.write(json.dumps(batch, separators=(",", ":")).encode() + b"\n")
        handle.flush()
        self._own.pending += 1

    def peek(self) -> dict[str, Any] | None:
        """The oldest undelivered batch (unparseable lines are skipped and logged)."""
        while self._files:
            f = self._files[0]
            if f.pending <= 0:
                if f.adopted:
                    self._files.pop(0)
                    self._remove(f)
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
        if f.pending == 0 and not f.adopted:  # all delivered: start the file over
            f.handle.seek(0)
            f.handle.truncate()
            f.read_offset = 0

    def _remove(self, f: _File) -> None:
        try:
            f.handle.close()
            f.path.unlink()
        except OSError:
            pass
