"""A stoppable daemon thread for the trader-side loops (control listener, status reporter, custom rules)."""

from __future__ import annotations

import threading


class BackgroundLoop:
    """Subclasses implement ``_run()``, which loops until ``self._stop`` is set.

    ``start()`` is idempotent and safe from several threads; ``stop()`` may be called from the loop's
    own thread (it then does not wait for itself).
    """

    thread_name = "graphwiz-background"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None
