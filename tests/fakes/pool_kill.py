"""Worker processes under kill -9 for the chaos tests.

``WorkerGroup`` starts real ``celery worker`` processes against any Redis URL (so several independent
systems can run side by side in one test, one Redis database each) and, at the end, stops them *and*
whatever they left behind: pool children orphaned by a killed main process are in the worker's own
process group, which is the only thing ``stop()`` kills. The functions find a worker's pool
children, the one that owns a given client TCP port (the process sending a request a fake is
holding), or one that is on the CPU, and kill it with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil

from tests.conftest import CeleryProcess, child_env, wait_until, write_config

READY_TIMEOUT_SECONDS = 30.0


def pool_children(main_pid: int) -> list[psutil.Process]:
    """The pool processes of a worker's main process (none when it is gone)."""
    try:
        return psutil.Process(main_pid).children()
    except psutil.Error:
        return []


def owner_of_port(processes: list[psutil.Process], port: int) -> psutil.Process | None:
    """The process holding a TCP socket whose local port is ``port`` (the client side of a request)."""
    for proc in processes:
        try:
            if any(c.laddr and c.laddr.port == port for c in proc.net_connections(kind="tcp")):
                return proc
        except psutil.Error:
            continue
    return None


def busy_child(main_pid: int, window: float = 0.5) -> psutil.Process | None:
    """A pool child that is on the CPU right now (state R: running a task, not waiting for one),
    polled every millisecond for up to ``window`` seconds; None if none was seen."""
    deadline = time.monotonic() + window
    children = pool_children(main_pid)
    while time.monotonic() < deadline:
        for proc in children:
            try:
                if proc.status() == psutil.STATUS_RUNNING:
                    return proc
            except psutil.Error:
                continue
        time.sleep(0.001)
    return None


def alive(proc: psutil.Process) -> bool:
    """Running (not gone, not a zombie waiting for its parent)."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def kill9(pid: int) -> float:
    """SIGKILL one process; returns the monotonic time of the kill."""
    os.kill(pid, signal.SIGKILL)
    return time.monotonic()


def wait_replaced(main_pid: int, killed_pid: int, concurrency: int, timeout: float = 30.0) -> None:
    """Wait until the main process has replaced the killed child (``concurrency`` live children again)."""

    def replaced() -> bool:
        pids = [p.pid for p in pool_children(main_pid) if alive(p)]
        return killed_pid not in pids and len(pids) == concurrency

    wait_until(replaced, timeout=timeout, message=f"worker {main_pid} replacing killed child {killed_pid}")


class WorkerGroup:
    """Real worker processes on one Redis URL; ``close()`` stops them and any orphaned children."""

    def __init__(self, tmp_path: Path, redis_url: str, name: str) -> None:
        self.dir = tmp_path / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.redis_url = redis_url
        self.processes: list[CeleryProcess] = []

    def start(self, *args: str, config_extra: str = "") -> CeleryProcess:
        n = len(self.processes)
        config = write_config(self.dir / f"monitoring-{n}.yaml", self.redis_url, config_extra)
        proc = CeleryProcess(list(args), child_env(config, self.redis_url, self.dir / "state"),
                             self.dir / f"celery-{n}.log")
        self.processes.append(proc)
        wait_until(lambda: "ready." in proc.output() or not proc.alive(), timeout=READY_TIMEOUT_SECONDS,
                   message="celery worker ready")
        assert proc.alive(), proc.output()[-3000:]
        return proc

    def output(self) -> str:
        return "".join(p.output() for p in self.processes)

    def close(self) -> None:
        for proc in self.processes:
            proc.stop()
            try:  # the group outlives a killed leader while orphaned pool children are in it
                os.killpg(proc.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def __enter__(self) -> WorkerGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
