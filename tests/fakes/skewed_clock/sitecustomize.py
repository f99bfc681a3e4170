"""Imported at start-up (as ``sitecustomize``) only by test children whose clock libfaketime skews
(tests/conftest.py ``skewed_clock``); nothing else puts this directory on ``PYTHONPATH``.

libfaketime 0.9.10 (Debian's), told to leave the monotonic clock alone (FAKETIME_DONT_FAKE_MONOTONIC=1),
still shifts the absolute deadline of ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)``, which is
how Python's ``time.sleep`` waits: the call fails with EINVAL, or sleeps for the whole offset. Faking
the monotonic clock as well is worse: every timed lock wait (``sem_clockwait``, not intercepted) then
hangs. So ``time.sleep`` here waits on a lock with a timeout, which libfaketime leaves alone: the
child's sleeps last what they should, and only its wall clock is off, as on a host with a wrong clock.
"""

from __future__ import annotations

import threading
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


time.sleep = _sleep
