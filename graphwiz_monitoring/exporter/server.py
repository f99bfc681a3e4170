"""The exporter process (``graphwiz-monitoring exporter``): ``/metrics`` for Prometheus, ``/healthz``.

One threaded WSGI server on ``monitoring.prometheus_host:prometheus_port`` rendering only
``GraphwizCollector``'s families (no default process collectors, no multiprocess mode) with the fast
text exposition of exposition.py.
``/healthz`` answers 200 when Redis answers a PING and 503 otherwise; ``/snapshot`` returns the
metrics snapshot as JSON (for people; rules and checks read it from the library).
Every path first passes the Host/Origin check of http_access.py (403 otherwise): the P&L must not reach
a DNS-rebinding page; ``monitoring.prometheus_allowed_hosts`` names what Prometheus scrapes us by.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any, cast
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.exposition import ThreadingWSGIServer

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.exporter.collector import GraphwizCollector, collector_for
from graphwiz_monitoring.exporter.exposition import CONTENT_TYPE, render
from graphwiz_monitoring.exporter.families import snapshot_json
from graphwiz_monitoring.http_access import HostAllowList, refusal, shown

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("exporter: " + format, *args)


HOST_SETTING = "monitoring.prometheus_allowed_hosts"


def make_app(collector: GraphwizCollector,
             hosts: HostAllowList | None = None) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app: /metrics (and /), /healthz, /snapshot; ``hosts`` defaults to loopback names and IPs."""
    allowed = hosts or HostAllowList.for_server((), None)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        host, origin = environ.get("HTTP_HOST"), environ.get("HTTP_ORIGIN")
        why = refusal(host, origin, allowed)
        if why is not None:
            log.warning("exporter: refused a request (%s: Host %s, Origin %s); allow a name with %s",
                        why, shown(host), shown(origin), HOST_SETTING)
            hint = f"; a name Prometheus scrapes by belongs in {HOST_SETTING}" if why.startswith("Host") else ""
            body = f"{why}{hint}\n".encode()
            start_response("403 Forbidden", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        path = environ.get("PATH_INFO") or "/"
        if path in ("/metrics", "/"):
            body = render(collector.collect())
            start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/healthz":
            ok = collector.store.is_available()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ok\n" if ok else b"redis unreachable\n"]
        if path == "/snapshot":
            try:
                body = snapshot_json(collector.store, collector.keys, collector.settings).encode()
            except StateError:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"redis unreachable\n"]
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /healthz\n"]

    return app


class ExporterServer:
    """A running exporter (background thread); ``port`` is the bound port (useful with port 0)."""

    def __init__(self, settings: Settings, host: str | None = None, port: int | None = None,
                 collector: GraphwizCollector | None = None) -> None:
        mon = settings.monitoring
        self.collector = collector or collector_for(settings)
        bind = host or mon.prometheus_host
        hosts = HostAllowList.for_server(mon.prometheus_allowed_hosts, bind)
        self.server: WSGIServer = make_server(bind, mon.prometheus_port if port is None else port,
                                              make_app(self.collector, hosts), ThreadingWSGIServer,
                                              handler_class=_QuietHandler)
        bound_host, self.port = self.server.server_address[:2]
        # bind() stored getsockname() here, whose host is a str for AF_INET/AF_INET6; the stub types the
        # attribute as any address a caller may pass in (str | bytes | bytearray).
        self.host = cast(str, bound_host)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ExporterServer:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="graphwiz-exporter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread:
            self._thread.join(timeout=5)


def serve_forever(settings: Settings, host: str | None = None, port: int | None = None,
                  announce: Callable[[str], None] = print) -> None:
    """Run in the foreground until SIGTERM or Ctrl-C, then close the socket and return."""
    exporter = ExporterServer(settings, host, port)
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        if not stopping.is_set():
            stopping.set()
            # shutdown() waits for serve_forever to return, so it must run outside this (main) thread.
            threading.Thread(target=exporter.server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    announce(f"exporter: {exporter.url}/metrics (healthz: {exporter.url}/healthz)")
    try:
        exporter.server.serve_forever(poll_interval=0.2)
    finally:
        exporter.server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        announce("exporter: stopped")
