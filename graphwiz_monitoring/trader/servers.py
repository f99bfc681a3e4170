"""The description's servers inside the trader: ``/metrics`` (``monitoring.enable_prometheus: true``) and the
realtime stream and status page (``monitoring.enable_realtime: true``), from ``start()`` to ``stop()``.

They are the exporter's and the realtime server's own code (exporter/server.py: the scrape-time collector,
bound to ``prometheus_host`` with its Host check; realtime/server.py: ``websocket.host``/``port`` with its
token, Host and Origin checks), each run in a daemon thread of its own: ``start()`` only starts the thread
(the import and the bind happen there), so it costs the trader nothing, and ``record_*`` never meets
them. A port that something else already serves (``graphwiz-monitoring run``'s exporter, another trader)
is said in one warning line and the trader carries on; so is any other reason not to serve (one error
line). Only an explicit ``true`` serves: unset leaves serving to ``graphwiz-monitoring run`` (config/runtime.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import threading
from typing import TYPE_CHECKING

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import ConfigError, ListenError
from graphwiz_monitoring.state import KeySpace, Store

if TYPE_CHECKING:
    from graphwiz_monitoring.exporter.server import ExporterServer

log = logging.getLogger(__name__)

JOIN_TIMEOUT_SECONDS = 10.0  # the realtime server closes its clients within 3 s, then its Redis reader


def _not_served(what: str, host: str, port: int, exc: BaseException, err: int | None) -> None:
    if err == errno.EADDRINUSE:
        log.warning("trader: %s is not served by this process: %s:%d is already in use (a graphwiz-monitoring "
                    "server or another trader serves it); recording goes on", what, host, port)
    else:
        log.error("trader: %s is not served by this process: %s; recording goes on", what, exc)


class _Endpoint:
    """One server in one daemon thread; ``stop()`` returns once its port is closed."""

    name = "server"

    def __init__(self, settings: Settings, store: Store, keys: KeySpace) -> None:
        self.settings, self.store, self.keys = settings, store, keys
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"graphwiz-trader-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self._serve()
        except Exception:  # never let a server take the trader down; say why, once
            log.exception("trader: %s stopped serving", self.name)

    def _serve(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        self._interrupt()
        if self._thread.is_alive():
            self._thread.join(JOIN_TIMEOUT_SECONDS)

    def _interrupt(self) -> None:
        raise NotImplementedError


class MetricsEndpoint(_Endpoint):
    """``/metrics``, ``/healthz`` and ``/snapshot`` as ``graphwiz-monitoring exporter`` serves them."""

    name = "metrics"

    def __init__(self, settings: Settings, store: Store, keys: KeySpace) -> None:
        super().__init__(settings, store, keys)
        self._server: ExporterServer | None = None

    def _serve(self) -> None:
        from graphwiz_monitoring.exporter.collector import collector_for
        from graphwiz_monitoring.exporter.server import ExporterServer

        mon = self.settings.monitoring
        try:
            server = ExporterServer(self.settings, collector=collector_for(self.settings, self.store))
        except OSError as exc:
            _not_served("/metrics", mon.prometheus_host, mon.prometheus_port, exc, exc.errno)
            return
        with self._lock:
            if self._stopping:
                server.server.server_close()
                return
            self._server = server  # from here on serve_forever runs, so stop()'s shutdown() returns
        log.info("trader: serving /metrics on %s/metrics", server.url)
        server.server.serve_forever(poll_interval=0.2)

    def _interrupt(self) -> None:
        with self._lock:
            server = self._server
        if server is not None:
            server.server.shutdown()
            server.server.server_close()


class StreamEndpoint(_Endpoint):
    """The WebSocket stream and status page as ``graphwiz-monitoring realtime`` serves them."""

    name = "realtime"

    def __init__(self, settings: Settings, store: Store, keys: KeySpace) -> None:
        super().__init__(settings, store, keys)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def _serve(self) -> None:
        asyncio.run(self._serve_async())

    async def _serve_async(self) -> None:
        from graphwiz_monitoring.realtime.server import RealtimeServer

        ws = self.settings.websocket
        try:
            server = RealtimeServer(self.settings, self.store, self.keys)
        except ConfigError as exc:  # a non-loopback host without a token: refused, as the realtime command does
            log.error("trader: the realtime stream is not served by this process: %s; recording goes on",
                      "; ".join(exc.problems))
            return
        stop = asyncio.Event()
        with self._lock:
            if self._stopping:
                return
            self._loop, self._stop = asyncio.get_running_loop(), stop
        try:
            await server.start()
        except ListenError as exc:
            _not_served("the realtime stream", ws.host, ws.port, exc, exc.errno)
            return
        try:
            await stop.wait()
        finally:
            await server.stop()

    def _interrupt(self) -> None:
        with self._lock:
            loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended (the server never listened)
                loop.call_soon_threadsafe(stop.set)


class TraderServers:
    """The servers ``monitoring.enable_prometheus`` / ``enable_realtime`` ask this trader for."""

    def __init__(self, settings: Settings, store: Store, keys: KeySpace) -> None:
        self.settings, self.store, self.keys = settings, store, keys
        self.running: list[_Endpoint] = []

    def wanted(self) -> list[type[_Endpoint]]:
        mon = self.settings.monitoring
        return [kind for kind, on in ((MetricsEndpoint, mon.enable_prometheus), (StreamEndpoint, mon.enable_realtime))
                if on is True]

    def start(self) -> None:
        if self.running:
            return
        self.running = [kind(self.settings, self.store, self.keys) for kind in self.wanted()]
        for endpoint in self.running:
            endpoint.start()

    def stop(self) -> None:
        """Close every port this trader serves (blocking: call it from a thread)."""
        running, self.running = self.running, []
        for endpoint in running:
            endpoint.stop()
