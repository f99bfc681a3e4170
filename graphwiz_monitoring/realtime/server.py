"""The realtime server (`graphwiz-monitoring realtime`): Redis pub/sub events -> WebSocket clients.

Each client gets a snapshot on connect (metrics, active alerts, health, breakers, trading paused,
recent recovery, equity points), then every event published with ``realtime.events.publish`` that
matches its subscription (``{"subscribe": ["alert", "health"]}``; default everything). The server
also pushes a full METRICS snapshot to its own clients every ``METRICS_PUSH_SECONDS`` and shortly after
a TRADE or METRICS event (ingest publishes those as small notices), so P&L and drawdown move live; those
pushes also carry each active alert's value now (``alert_values``, from its rule's condition) and, when
they changed, the last 20 trades read from the trade stream (``recent_trades``). The same tick resends
the snapshot when the trading-paused flag changed (the CLI publishes no event then).
Security, per-client queues and HTTP routes: see access.py, hub.py and http.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from graphwiz_monitoring.alerting.rules import RuleRegistry, load_rules
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import ListenError, RuleError
from graphwiz_monitoring.events import SNAPSHOT, EventType, make_message, parse_event
from graphwiz_monitoring.realtime import access, sources
from graphwiz_monitoring.realtime.bridge import RedisBridge
from graphwiz_monitoring.realtime.http import Routes
from graphwiz_monitoring.realtime.hub import Client, Hub
from graphwiz_monitoring.state import KeySpace, Store

log = logging.getLogger(__name__)

METRICS_PUSH_SECONDS = 5.0
REFRESH_DELAY_SECONDS = 0.2  # coalesces a burst of ingest events into one metrics push
REFRESH_ON = frozenset({EventType.TRADE.value, EventType.METRICS.value})
EQUITY_SAMPLE_SECONDS = 5.0  # one sparkline point per this long; newer values replace the last point
EQUITY_POINTS = 720  # one hour of points
EQUITY_BACKFILL_HOURS = 1.0  # history read once at start, so the first visitors see a curve
CLOSE_TIMEOUT_SECONDS = 3.0
MAX_CLIENT_MESSAGE_BYTES = 64 * 1024  # clients only send subscription filters
BRIDGE_READY_SECONDS = 5.0
SNAPSHOT_SEND_SECONDS = 10.0  # a client that cannot take its snapshot in this long is dropped


class RealtimeServer:
    """One server: ``await start()`` ... ``await stop()``, or ``await run(stop_event)``."""

    def __init__(self, settings: Settings, store: Store, keys: KeySpace, *,
                 metrics_push_seconds: float = METRICS_PUSH_SECONDS) -> None:
        access.check_bind(settings.websocket)
        self.settings = settings
        self.store = store
        self.keys = keys
        self.metrics_push_seconds = metrics_push_seconds
        self.hub = Hub(settings.websocket.client_queue_size)
        self.equity: deque[tuple[float, float]] = deque(maxlen=EQUITY_POINTS)
        try:  # the expression rules, for each alert's value now (rule modules are user code: not loaded here)
            self.rules = load_rules(settings.alerts)
        except RuleError:
            self.rules = RuleRegistry()
        self.routes = Routes(token=access.token_of(settings.websocket),
                             allowed_origins=list(settings.websocket.allowed_origins),
                             snapshot=self.snapshot, silence=self._silence, health=self._health,
                             acknowledge=self._acknowledge, unacknowledge=self._unacknowledge,
                             hosts=access.host_allow_list(settings.websocket))
        self.bridge: RedisBridge | None = None
        self.server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresh_pending = False
        self._paused: bool | None = None
        self._newest_trade: str | None = None  # trade id at the top of the last pushed trades list
        # websockets logs request details at DEBUG, and a query string may hold the token.
        self._ws_logger = logging.getLogger("graphwiz_monitoring.realtime.websockets")
        self._ws_logger.setLevel(logging.INFO)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ws = self.settings.websocket
        self.bridge = RedisBridge(self.store, self.keys.events, loop, self._deliver, self._resync)
        self.bridge.start()
        # Subscribed before the first client can connect, so no event published after start() is lost;
        # a Redis that is down does not block the start (the bridge keeps retrying, /healthz says so).
        await asyncio.to_thread(self.bridge.connected.wait, BRIDGE_READY_SECONDS)
        try:
            self.server = await serve(
                self._handler, ws.host, ws.port, process_request=self.routes,
                ping_interval=ws.ping_interval_seconds, ping_timeout=ws.ping_interval_seconds,
                close_timeout=CLOSE_TIMEOUT_SECONDS, max_size=MAX_CLIENT_MESSAGE_BYTES,
                logger=self._ws_logger, server_header="graphwiz-monitoring",
            )
        except OSError as exc:
            await asyncio.to_thread(self.bridge.stop)
            raise ListenError(f"realtime: cannot listen on {ws.host}:{ws.port}: {exc.strerror or exc}",
                              exc.errno) from None
        self._spawn(self._metrics_loop())
        self._spawn(self._backfill_equity())
        log.info("realtime: serving on %s:%d (token %s)", ws.host, self.port,
                 "required" if access.token_of(ws) else "not configured")

    @property
    def port(self) -> int:
        assert self.server is not None, "start() first"
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting, close every client with 1001 (going away), stop the Redis reader."""
        for task in list(self._tasks):
            task.cancel()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), CLOSE_TIMEOUT_SECONDS + 1)
        if self.bridge is not None:
            await asyncio.to_thread(self.bridge.stop)
        log.info("realtime: stopped")

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is set, or SIGTERM/SIGINT when running in the main thread."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[int] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
            except (RuntimeError, ValueError):  # not the main thread (tests run it in a thread)
                pass
        try:
            await self.start()
            await stop.wait()
        finally:
            for installed_sig in installed:
                loop.remove_signal_handler(installed_sig)
            await self.stop()

    # ------------------------------------------------------------------ clients

    async def _handler(self, ws: ServerConnection) -> None:
        # Register before reading the snapshot: events published meanwhile wait in the queue,
        # so nothing falls between the snapshot and the stream (at worst something arrives twice).
        client = self.hub.register(ws)
        try:
            snapshot = await asyncio.to_thread(self.snapshot)
            try:
                await asyncio.wait_for(ws.send(make_message(SNAPSHOT, snapshot)), SNAPSHOT_SEND_SECONDS)
            except TimeoutError:
                self.hub.evict(client)
                return
            client.sender = asyncio.create_task(self._pump(client))
            async for raw in ws:
                self.hub.handle_client_message(client, raw)
        except ConnectionClosed:
            pass
        finally:
            self.hub.unregister(client)

    async def _pump(self, client: Client) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.hub.pump(client)

    def _deliver(self, raw: str) -> None:
        """A pub/sub payload (on the loop): forward it as published, if it is a well-formed event."""
        event = parse_event(raw)
        if event is None:
            log.warning("realtime: ignored a malformed event on %s", self.keys.events)
            return
        self.hub.broadcast(event["type"], raw if isinstance(raw, str) else raw.decode())
        # Ingest announces new data with TRADE and a small METRICS notice: push fresh numbers soon after.
        if event["type"] in REFRESH_ON and not self._refresh_pending:
            self._refresh_pending = True
            self._spawn(self._refresh_metrics(REFRESH_DELAY_SECONDS))

    def _resync(self) -> None:
        """After a pub/sub outage clients may have missed events: send everyone a fresh snapshot."""
        async def resend() -> None:
            if self.hub.clients:
                text = make_message(SNAPSHOT, await asyncio.to_thread(self.snapshot))
                for client in list(self.hub.clients):
                    self.hub.offer(client, text)
        self._spawn(resend())

    # ------------------------------------------------------------------ data

    def snapshot(self) -> dict[str, Any]:
        """Every section plus the equity points this server has seen (blocking: run in a thread)."""
        data = sources.collect_snapshot(self.store, self.keys, self.settings)
        # list() copies the deque in one step; only the loop thread appends to it.
        data["equity"] = [[t, v] for t, v in list(self.equity)]
        data["alert_values"] = sources.alert_values(self.rules, data.get("alerts"), data.get("metrics"))
        return data

    def _record_equity(self, metrics: dict[str, Any] | None) -> None:
        pnl = ((metrics or {}).get("trading") or {}).get("pnl_usd")
        if not isinstance(pnl, (int, float)) or isinstance(pnl, bool):
            return
        now = time.time()
        if self.equity and now - self.equity[-1][0] < EQUITY_SAMPLE_SECONDS:
            self.equity[-1] = (self.equity[-1][0], float(pnl))  # bursts of pushes move the last point
        else:
            self.equity.append((now, float(pnl)))

    async def _backfill_equity(self) -> None:
        """Put the last hour of the P&L curve (from the trade history) before the live points."""
        try:
            points = await asyncio.to_thread(sources.read_equity_history, self.store, self.keys, self.settings,
                                             EQUITY_BACKFILL_HOURS)
        except Exception as exc:  # no history is no reason to stop: the curve then starts now
            log.warning("realtime: no equity history (%s: %s)", type(exc).__name__, exc)
            return
        live = list(self.equity)
        first_live = live[0][0] if live else float("inf")
        older = [(t, v) for t, v in points if t < first_live - EQUITY_SAMPLE_SECONDS]
        room = EQUITY_POINTS - len(live)
        if older and room > 0:
            # A new deque, swapped in at once: snapshot() may be copying the old one in a thread.
            self.equity = deque([*older[-room:], *live], maxlen=EQUITY_POINTS)

    async def _metrics_loop(self) -> None:
        while True:
            try:
                await self._refresh_metrics(0)
            except Exception:  # keep pushing: one bad tick must not stop the live numbers for good
                log.exception("realtime: metrics push failed")
            await asyncio.sleep(self.metrics_push_seconds)

    async def _refresh_metrics(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        self._refresh_pending = False
        data = await asyncio.to_thread(sources.collect_snapshot, self.store, self.keys, self.settings,
                                       ("metrics", "trading", "alerts", "trades"))
        metrics = data.get("metrics")
        if metrics is not None:
            self._record_equity(metrics)
            # Beside the sections: each active alert's value now, and the recent trades when they changed
            # (a TRADE event from ingest is a batch summary; the list itself is read here, 20 entries).
            push = {**metrics, "alert_values": sources.alert_values(self.rules, data.get("alerts"), metrics)}
            trades = data.get("trades")
            newest = str(trades[0].get("trade_id")) if trades else None
            if trades is not None and newest != self._newest_trade:
                push["recent_trades"], self._newest_trade = trades, newest
            self.hub.broadcast(EventType.METRICS.value, make_message(EventType.METRICS.value, push))
        # Pausing/resuming from the CLI publishes no event: a changed flag resends the snapshot.
        paused = (data.get("trading") or {}).get("paused")
        if paused is not None and self._paused is not None and paused != self._paused:
            self._resync()
        self._paused = paused if paused is not None else self._paused

    def _silence(self, **kwargs: Any) -> dict[str, Any]:
        return sources.create_silence(self.store, self.keys, self.settings, **kwargs)

    def _acknowledge(self, **kwargs: Any) -> dict[str, Any]:
        return sources.acknowledge(self.store, self.keys, self.settings, **kwargs)

    def _unacknowledge(self, **kwargs: Any) -> dict[str, Any]:
        return sources.unacknowledge(self.store, self.keys, self.settings, **kwargs)

    def _health(self) -> tuple[bool, dict[str, Any]]:
        redis_ok = self.bridge is not None and self.bridge.connected.is_set()
        return redis_ok, {"status": "ok" if redis_ok else "degraded", "redis_subscribed": redis_ok,
                          **self.hub.stats()}

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def run_realtime(settings: Settings, store: Store, keys: KeySpace) -> None:
    """Foreground entry point for the CLI: serve until SIGTERM or Ctrl-C, then shut down cleanly."""
    server = RealtimeServer(settings, store, keys)
    asyncio.run(server.run())
