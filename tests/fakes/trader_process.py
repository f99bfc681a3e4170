"""Runs tests/fakes/health_trader.py as a real OS process (start, SIGTERM, SIGKILL, restart)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, child_env, skewed_clock


class TraderProcess:
    def __init__(self, workdir: Path, config: Path, redis_url: str, clock_offset: str | None = None) -> None:
        """``clock_offset`` (e.g. ``-120s``) runs the trader under libfaketime: its clock is that far off."""
        self.clock = skewed_clock(clock_offset) if clock_offset else {}
        self.workdir = workdir
        self.config = config
        self.redis_url = redis_url
        self.state_path = workdir / "world.json"
        self.calls_path = workdir / "calls.jsonl"
        self.status_path = workdir / "trader-status.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        log = open(self.workdir / f"trader-{self.starts}.log", "wb")
        self.starts += 1
        self.status_path.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.health_trader", str(self.config), str(self.state_path),
             str(self.calls_path), str(self.status_path)],
            cwd=str(ROOT), env={**child_env(self.config, self.redis_url, self.workdir / "state"), **self.clock},
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def status(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return None

    def calls(self, name: str | None = None) -> list[dict[str, Any]]:
        try:
            lines = self.calls_path.read_text().splitlines()
        except OSError:
            return []
        calls = [json.loads(line) for line in lines if line.strip()]
        return [c for c in calls if name is None or c["call"] == name]

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.workdir.glob("trader-*.log")))
