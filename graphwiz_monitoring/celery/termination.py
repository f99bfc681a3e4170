"""SIGTERM held off while a notification attempt runs (the worker's side of delivery.py's step 4).

When a worker loses its broker connection (Redis restarted, or a Sentinel failover), Celery terminates
(SIGTERM) every running task with late acknowledgement, since it cannot acknowledge it, and the broker
hands the message out again (``worker_cancel_long_running_tasks_on_connection_loss``). A notification
task terminated after its request reached the API and before its record was marked done is sent a
second time by the redelivery (its claim's holder is gone, so the claim is taken over). Inside
``deferred_termination()`` (workers/notify.py: one attempt) a SIGTERM is noted and acted on when the
block ends: the send finishes and is recorded and counted, then the process terminates as asked, and the
redelivered task finds the notification done.
The hard time limit still ends a stuck block (billiard follows its SIGTERM with SIGKILL).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)


@contextmanager
def deferred_termination() -> Iterator[None]:
    """A SIGTERM received inside the block terminates the process when it ends (main thread only)."""
    if threading.current_thread() is not threading.main_thread():  # thread pools: signals are not ours
        yield
        return
    received: list[int] = []
    previous = signal.getsignal(signal.SIGTERM)

    def note(signum: int, _frame: Any) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if received:
            log.warning("termination asked during a notification attempt: carried out now that it has ended")
            os.kill(os.getpid(), signal.SIGTERM)
