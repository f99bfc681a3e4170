"""Who holds a notification's claim, and whether that process is surely gone: the lease's early release.

A claim (delivery_claim.lua) is leased to one attempt for longer than any send can take. A sender
that is merely stalled (SIGSTOP, swapping, a long GC pause) or cut off from Redis cannot be told
apart from a dead one by anything it stops doing: its heartbeats stop either way. So a live lease is
only ever taken over when its holder is known to be gone, and only the kernel of the holder's host
knows that: the holder's identity (host, boot, pid namespace, pid, start time) lets a claimant on the
same host (the usual case: the worker that restarts a killed pool process, or a supervisor's
replacement worker) check /proc. A frozen process is still there (state T), so its lease stands;
a killed one is gone (or a zombie), so its lease frees at once. From another host, or without
/proc, nothing is "surely gone": the claimant waits the lease out.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

_PROC = Path("/proc")
_FIELDS = 5  # host|boot|pidns|pid|start


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""


@functools.lru_cache(maxsize=1)
def _boot_id() -> str:
    return _read(_PROC / "sys" / "kernel" / "random" / "boot_id")


@functools.lru_cache(maxsize=1)
def _pid_namespace() -> str:
    try:
        return os.readlink(_PROC / "self" / "ns" / "pid")  # "pid:[4026531836]": containers differ
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks since boot) of ``pid``, None when there is no such process."""
    text = _read(_PROC / str(pid) / "stat")
    if not text:
        return None
    fields = text[text.rfind(")") + 2:].split()  # the command name in (...) may hold spaces
    if len(fields) < 20:
        return None
    return fields[0], fields[19]


def identity(pid: int | None = None) -> str:
    """``host|boot id|pid namespace|pid|start time`` of this process (empty parts where /proc is absent)."""
    pid = os.getpid() if pid is None else pid
    stat = _stat(pid)
    return "|".join((socket.gethostname(), _boot_id(), _pid_namespace(), str(pid), stat[1] if stat else ""))


def surely_gone(holder: str) -> bool:
    """True only when ``holder`` (an ``identity()``) is a process of this host, boot and pid namespace that
    no longer runs: no such pid, a different process under that pid, or a zombie. Anything unknown: False."""
    parts = holder.split("|")
    if len(parts) != _FIELDS or not all(parts):
        return False
    host, boot, pidns, pid, start = parts
    mine = identity()
    if mine.split("|")[:3] != [host, boot, pidns] or not pid.isdigit():
        return False
    stat = _stat(int(pid))
    return stat is None or stat[1] != start or stat[0] in ("Z", "X")
