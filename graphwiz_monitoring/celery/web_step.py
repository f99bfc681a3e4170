"""``celery -A graphwiz_monitoring worker --serve exporter,realtime``: a worker that also serves /metrics and
the realtime stream and status page, each in a thread of its own.

``graphwiz-monitoring run`` gives them to its sending worker (notify: threads pool, I/O-bound) instead
of a process of their own, which saves one Python process (about 20 MiB PSS, bench/footprint.py).
They are the exporter's and the realtime server's own code, each in a daemon thread (like a trader's
with ``enable_prometheus`` / ``enable_realtime``; trader/servers.py cannot be reused from here, the trader
package imports this one). A port already in use stops the worker at start, with the reason in its log,
and the supervisor restarts it. Sending is not slowed: both servers only wait on sockets and Redis, and a
hung send holds one pool thread, not these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

import click
from celery import Celery, bootsteps

from graphwiz_monitoring.context import get_keys, get_settings, get_store

SERVE_OPTION = "--serve"
SERVERS = ("exporter", "realtime")
READY_SECONDS = 15.0
JOIN_SECONDS = 10.0  # the realtime server closes its clients within 3 s, then its Redis reader

log = logging.getLogger(__name__)


class _Realtime:
    """The realtime server on an event loop of its own, in a daemon thread."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="graphwiz-realtime", daemon=True)

    def start(self) -> None:
        self.thread.start()
        self.ready.wait(READY_SECONDS)
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # said once in the worker's log, and raised by start() if still waiting
            self.error = exc
            log.exception("realtime server stopped")
        finally:
            self.ready.set()

    async def _serve(self) -> None:
        from graphwiz_monitoring.realtime.server import RealtimeServer

        settings = get_settings()
        server = RealtimeServer(settings, get_store(settings), get_keys(settings))
        self.loop, self.stop_event = asyncio.get_running_loop(), asyncio.Event()
        await server.start()
        self.ready.set()
        try:
            await self.stop_event.wait()
        finally:
            await server.stop()

    def stop(self) -> None:
        if self.loop is not None and self.stop_event is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(JOIN_SECONDS)


class _Exporter:
    def __init__(self) -> None:
        from graphwiz_monitoring.exporter.server import ExporterServer

        self.server = ExporterServer(get_settings())

    def start(self) -> None:
        self.server.start()
        log.info("exporter: %s/metrics (healthz: %s/healthz)", self.server.url, self.server.url)

    def stop(self) -> None:
        self.server.stop()


class WebServers(bootsteps.StartStopStep):
    """Started after the pool, stopped with the worker (each server closes its port)."""

    label = "Web servers"
    conditional = True
    requires = ("celery.worker.components:Pool",)

    def __init__(self, w: Any, serve: str | None = None, **kwargs: Any) -> None:
        self.serve = _names(serve)
        self.enabled = bool(self.serve)
        self.endpoints: list[Any] = []
        super().__init__(w, **kwargs)

    def start(self, w: Any) -> None:
        kinds: dict[str, Any] = {"exporter": _Exporter, "realtime": _Realtime}
        for name in self.serve:
            endpoint = kinds[name]()
            endpoint.start()
            self.endpoints.append(endpoint)

    def stop(self, w: Any) -> None:
        endpoints, self.endpoints = self.endpoints, []
        for endpoint in endpoints:
            endpoint.stop()


def _names(value: str | None) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def _check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    unknown = sorted(set(_names(value)) - set(SERVERS))
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} (choose from {', '.join(SERVERS)})")
    return value


def install(app: Celery) -> None:
    app.user_options["worker"].add(click.Option([SERVE_OPTION], default=None, metavar="exporter,realtime", callback=_check,
                                                help="Also serve /metrics and/or the realtime stream (threads)."))
    app.steps["worker"].add(WebServers)
