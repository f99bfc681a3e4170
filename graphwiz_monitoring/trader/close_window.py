"""Trader side: the close_positions window, kept by the trader itself on its own disk.

Anyone who can write to Redis can put a command on the control stream, so the trader does not take
the worker's word that ``close_positions`` is allowed or due: it checks its own
``recovery.allow_close_positions`` and keeps its own once-per-``close_positions_window_seconds``
record. That record is a small file under ``trader.journal_dir`` (the trader's local state
directory, which must survive restarts for the journal anyway), one per trader identity:
``close-positions-<identity>.json``. Why a file and not a Redis key: a Redis key is exactly what a
forger with Redis access could delete to close twice; the trader's disk is out of that reach, and it
survives the trader's restarts (a crash included: the record is written and fsync'ed BEFORE
``close_all_positions()`` is called, so a trader killed mid-close still counts that close).

The window is judged on this host's clock, deliberately: the decision is the trader's alone, about
its own past, and no other process shares it. A record from the future (the clock was set back)
still refuses, failing closed for a destructive action; delete the file to allow a close again.
An unreadable record or an unwritable directory refuses as well, with the path in the reason.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path


class CloseWindow:
    def __init__(self, directory: str | os.PathLike[str], identity: str, window_seconds: float) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.@-]", "_", identity) or "trader"
        self.directory = Path(directory)
        self.path = self.directory / f"close-positions-{safe}.json"
        self.window_seconds = float(window_seconds)

    def claim(self, command_id: str, now: float | None = None) -> str | None:
        """Take the window for ``command_id``; None when taken, else why it is refused."""
        now = time.time() if now is None else now
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_name(self.path.name + ".lock"), "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # two processes of one identity: one decision at a time
                refusal = self._refusal(now)
                if refusal is None:
                    self._write({"command_id": command_id, "at": now})
                return refusal
        except OSError as exc:
            return f"close_positions window not recorded in {self.directory}: {type(exc).__name__}: {exc}"

    def last(self) -> dict[str, object] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        return data if isinstance(data, dict) else {"error": "not a JSON object"}

    def _refusal(self, now: float) -> str | None:
        last = self.last()
        if last is None:
            return None
        at = last.get("at")
        if "error" in last or not isinstance(at, (int, float)):
            return f"close_positions window record {self.path} is unreadable ({last.get('error', 'no time')}): delete it to allow"
        elapsed = now - float(at)
        if elapsed < self.window_seconds:
            when = datetime.fromtimestamp(float(at), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            return (f"close_positions already ran in this trader at {when} (command {last.get('command_id')}): "
                    f"at most once per {self.window_seconds:g}s (recovery.close_positions_window_seconds)")
        return None

    def _write(self, record: dict[str, object]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(record))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself reaches the disk before the positions are closed
        finally:
            os.close(fd)
