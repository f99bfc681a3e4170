"""The live status page in headless Chromium (Debian's package), driven over the DevTools protocol.

Loads the page from a real realtime server (with real trades, health, breaker, recovery and pause state),
creates a new alert through the alerting area (its ALERT event goes through Redis), sees it appear without
a reload, checks hostile text stays text, sees a new trade move the P&L, silences the alert with its
button, and saves a screenshot
that must not be blank.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from websockets.sync.client import ClientConnection, connect

from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.alerting.silences import list_silences
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.events import EventType, publish
from graphwiz_monitoring.guards.breaker import CircuitBreaker
from graphwiz_monitoring.health.checker import HealthChecker
from graphwiz_monitoring.health.pause import set_trading_paused
from graphwiz_monitoring.health.recovery import RecoveryRunner
from graphwiz_monitoring.metrics.ingest import ingest_batch
from tests.conftest import free_port, require_binary, wait_until
from tests.fakes.realtime_harness import ServerThread

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--no-default-browser-check", "--hide-scrollbars", "--mute-audio",
                  "--window-size=1280,1000"]
MIN_DISTINCT_COLOURS = 32  # a blank or single-colour page has a handful at most


class DevTools:
    """A minimal Chrome DevTools Protocol client: send a command, wait for its answer."""

    def __init__(self, url: str) -> None:
        self.ws: ClientConnection = connect(url, max_size=None, open_timeout=10)
        self._ids = itertools.count(1)

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 10) -> dict[str, Any]:
        call_id = next(self._ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if message.get("id") == call_id:  # anything else is an event we did not ask about
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[DevTools]:
    binary = require_binary("chromium")
    port = free_port()
    log = open(tmp_path / "chromium.log", "wb")
    proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                             "--remote-debugging-address=127.0.0.1", f"--remote-debugging-port={port}",
                             "about:blank"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def page_target() -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=1) as answer:
                targets = json.load(answer)
        except OSError:
            return None
        return next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)

    try:
        url = wait_until(lambda: page_target() or proc.poll() is not None, timeout=30, message="chromium DevTools")
        assert proc.poll() is None, (tmp_path / "chromium.log").read_text(errors="replace")[-2000:]
        devtools = DevTools(url)
        yield devtools
        devtools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def trade(pnl: float, at: float) -> dict[str, Any]:
    return {"kind": "trade", "data": {"symbol": "BTC/USDT", "side": "buy", "price": 50000.0, "quantity": 0.1,
                                      "pnl": pnl, "exchange": "binance", "timestamp": at}}


class _NoAlerts:
    """An alert manager that opens nothing (for seeding health results only)."""

    def open_episode(self, *args: Any, **kwargs: Any) -> None:
        return None

    close_episode = create_manual_alert = open_episode


def seed_other_areas(store, keys, settings) -> None:
    """Real state from the metrics and health areas, so the page shows more than empty tables."""
    now = time.time()
    ingest_batch(store, keys, settings, {"batch_id": "seed", "records": [
        trade(100.0, now - 1800), trade(-20.0, now - 1200), trade(1154.5, now - 600),
        {"kind": "exchange_status", "data": {"exchange": "binance", "connected": True, "rate_limit_remaining": 900.0}},
        *({"kind": "latency", "data": {"exchange": "binance", "seconds": s}} for s in (0.01, 0.02, 0.03, 0.09)),
    ]})
    # This host's real disk and CPU: under load they may be judged bad, and a bad check opens an alert
    # episode; the page's alert list is tested below, so the seeded checks alert nobody.
    checker = HealthChecker(settings, store, keys, alert_manager=_NoAlerts())
    for check in ("disk_space", "system_resources"):
        checker.check_now(check)
    breaker = CircuitBreaker(store, keys, "exchange_connectivity", settings.circuit_breakers)
    for _ in range(settings.circuit_breakers.failure_threshold):
        breaker.record_failure("connection refused", breaker.allow())
    RecoveryRunner(settings, store, keys).run("portfolio_health", "rec-1", {})
    set_trading_paused(store, keys, True, reason="portfolio breach")


def test_new_alert_appears_live_on_the_status_page(chromium: DevTools, tmp_path, redis_url, store, keys):
    settings = parse_settings({"redis": {"url": redis_url}, "websocket": {"port": free_port()},
                               "recovery": {"dry_run": True}}, env={})
    seed_other_areas(store, keys, settings)
    server = ServerThread(settings, store, keys).start()
    try:
        chromium.send("Page.enable")
        chromium.send("Runtime.enable")
        chromium.send("Page.navigate", {"url": f"{server.http_url}/"})
        wait_until(lambda: chromium.evaluate("document.getElementById('conn-state').textContent") == "live",
                   timeout=10, message="the page's WebSocket to connect")
        assert chromium.evaluate("document.getElementById('alert-count').textContent") == "0"
        assert chromium.evaluate("document.getElementById('trading-state').textContent").startswith("TRADING PAUSED")
        health = chromium.evaluate("document.getElementById('health').textContent")
        assert "disk_space" in health and "open (3 failures)" in health
        assert chromium.evaluate("document.getElementById('pnl').textContent") == "$1,234.50"
        exchanges = chromium.evaluate("document.getElementById('exchanges').textContent")
        assert "binance" in exchanges and "connected" in exchanges
        # The equity curve starts with the last hour of trades, not empty.
        points = chromium.evaluate("document.getElementById('sparkline-line').getAttribute('points')")
        assert len(points.split()) >= 3

        # A real alert, published by the alerting area's manager, appears without a reload.
        alert = AlertManager(store, keys, settings, dispatch=lambda *a: None).check_alert(
            "large_loss", {"trading": {"current_drawdown": 0.125}})
        assert alert is not None
        row = f"document.querySelector('[data-alert-id=\"{alert.alert_id}\"]')"
        wait_until(lambda: chromium.evaluate(f"{row} && {row}.querySelector('.title').textContent") == alert.title,
                   timeout=5, message="the new alert on the page")
        assert chromium.evaluate("document.getElementById('alert-count').textContent") == "1"

        # Hostile text in an event stays text: no element is created from it, no handler runs.
        hostile_id = uuid.uuid4().hex
        title = 'Exchange <b>binance</b> down <img src=x onerror="window.pwned=1">'
        publish(store, keys, EventType.ALERT, {
            "alert_id": hostile_id, "rule_name": "exchange_disconnect", "title": title,
            "message": "<script>window.pwned=2</script>", "severity": "emergency", "state": "firing",
            "labels": {"exchange": "binance"}, "created_at": time.time(),
        })
        hostile = f"document.querySelector('[data-alert-id=\"{hostile_id}\"] .title')"
        wait_until(lambda: chromium.evaluate(f"{hostile} && {hostile}.textContent") == title,
                   timeout=5, message="the hostile alert as text")
        assert chromium.evaluate("document.querySelectorAll('#alerts img, #alerts b, #alerts script').length") == 0
        assert chromium.evaluate("window.pwned === undefined") is True
        assert chromium.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload

        # The silence button creates a silence through the realtime server's API.
        chromium.evaluate(f"{row}.querySelector('button.silence').click()")
        wait_until(lambda: chromium.evaluate(f"{row}.querySelector('button.silence').textContent") == "silenced",
                   timeout=5, message="the silence to be confirmed")
        silences = list_silences(store, keys)
        assert [s.matchers for s in silences] == [{"rule": "large_loss"}] and silences[0].author == "status-page"

        # A new trade moves the P&L card live (ingest announces it with a TRADE event, as the worker does).
        result = ingest_batch(store, keys, settings, {"batch_id": "live", "records": [trade(65.5, time.time())]})
        publish(store, keys, EventType.TRADE, result.summary())
        wait_until(lambda: chromium.evaluate("document.getElementById('pnl').textContent") == "$1,300.00",
                   timeout=5, message="the P&L card to update")

        shot = base64.b64decode(chromium.send("Page.captureScreenshot", {"format": "png"})["data"])
        path = tmp_path / "status-page.png"
        path.write_bytes(shot)
        image = Image.open(io.BytesIO(shot)).convert("RGB")
        assert image.width >= 800 and image.height >= 600
        colours = image.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) >= MIN_DISTINCT_COLOURS, f"blank screenshot? {path}"

        # Resolving the alert takes it off the page, live.
        AlertManager(store, keys, settings, dispatch=lambda *a: None).resolve_alert("large_loss")
        wait_until(lambda: chromium.evaluate(f"{row} === null") is True, timeout=5, message="the alert to go")
        assert chromium.evaluate("document.getElementById('alert-count').textContent") == "1"
    finally:
        server.stop()
