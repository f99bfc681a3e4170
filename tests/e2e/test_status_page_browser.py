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
import os
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
from graphwiz_monitoring.alerting.records import load_alert
from graphwiz_monitoring.alerting.silences import list_silences
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.events import EventType, publish
from graphwiz_monitoring.guards.breaker import CircuitBreaker
from graphwiz_monitoring.health.checker import HealthChecker
from graphwiz_monitoring.health.pause import set_trading_paused
from graphwiz_monitoring.health.recovery import RecoveryRunner
from graphwiz_monitoring.metrics.ingest import ingest_batch
from graphwiz_monitoring.metrics.snapshot import build_snapshot
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
        assert "disk space" in health and "open (3 failures)" in health
        assert chromium.evaluate("document.getElementById('pnl').textContent") == "$1,234.50"
        exchanges = chromium.evaluate("document.getElementById('exchanges').textContent")
        assert "binance" in exchanges and "connected" in exchanges
        # The equity curve starts with the last hour of trades, not empty.
        points = wait_until(lambda: chromium.evaluate("window.equityChart && window.equityChart.data[0].length"),
                            timeout=5, message="the equity chart")
        assert points >= 3

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


# ------------------------------------------------------------------ layout at phone and desktop widths

PHONE, DESKTOP = (390, 844), (1440, 1000)
INITIAL_CAPITAL_USD = 10_000.0
# Set to a folder (e.g. docs/images) to keep the screenshots: the README shows them.
SCREENSHOT_DIR_ENV = "GRAPHWIZ_SCREENSHOT_DIR"

# Every table's visible box (its scrolling wrapper) against its panel, the page against the viewport,
# and the narrowest free-text cell (a message squeezed to a few letters per line is unreadable).
MEASURE_JS = """(() => {
  const out = {viewport: window.innerWidth, page: document.documentElement.scrollWidth, tables: [], textCells: []};
  for (const table of document.querySelectorAll('main table')) {
    const panel = table.closest('.panel, .card').getBoundingClientRect();
    const box = (table.closest('.scroll') || table).getBoundingClientRect();
    out.tables.push({id: table.className || table.querySelector('tbody').id, left: box.left - panel.left, right: panel.right - box.right,
                     panelRight: panel.right});
  }
  for (const cell of document.querySelectorAll('td.text')) {
    if (cell.textContent.length > 20) out.textCells.push(cell.getBoundingClientRect().width);
  }
  return out;
})()"""
CHART_JS = """(() => {
  const c = window.equityChart;
  if (!c) return null;
  return {x: (c.axes[0]._values || []).filter(Boolean), y: (c.axes[1]._values || []).filter(Boolean),
          canvas: document.querySelector('#equity-chart canvas').getBoundingClientRect().width, points: c.data[0].length};
})()"""


def set_viewport(chromium: DevTools, width: int, height: int, loaded: bool = True) -> None:
    chromium.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": width < 600})
    if not loaded:  # about:blank has no viewport meta tag: a phone shows it 980 px wide
        return
    wait_until(lambda: chromium.evaluate("window.innerWidth") == width, timeout=5, message=f"a {width} px viewport")


def screenshot(chromium: DevTools, path: Path, clip: dict[str, float] | None = None) -> Image.Image:
    if clip is None:  # the whole page, not only what fits the viewport
        size = chromium.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = base64.b64decode(chromium.send("Page.captureScreenshot", {
        "format": "png", "clip": clip, "captureBeyondViewport": True})["data"])
    path.write_bytes(shot)
    keep = os.environ.get(SCREENSHOT_DIR_ENV)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / path.name).write_bytes(shot)
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) >= MIN_DISTINCT_COLOURS, f"blank screenshot? {path}"
    return image


def check_layout(chromium: DevTools, width: int) -> dict[str, Any]:
    m = chromium.evaluate(MEASURE_JS)
    assert m["page"] <= m["viewport"] == width, f"the page scrolls sideways at {width} px: {m}"
    # trades, health, exchanges, recovery (and uPlot's legend, a table, where the device can hover)
    assert len(m["tables"]) in (4, 5)
    for table in m["tables"]:  # inside its panel on both sides (a wider table scrolls within it)
        assert table["left"] >= 0 and table["right"] >= 0 and table["panelRight"] <= width, (width, table)
    assert m["textCells"] and min(m["textCells"]) >= 180, f"messages squeezed at {width} px: {m['textCells']}"
    return m


def seed_trading_story(store, keys, settings, now: float) -> None:
    """An hour of trades: up to +1,500 USD, then losses to a 10.3 % drawdown (capital 10,000 USD)."""
    pnls = [60.0, -20.0, 110.0, 75.0, -35.0, 140.0, 90.0, 210.0, -60.0, 180.0, 250.0, 120.0, 380.0, -40.0,
            -180.0, -260.0, -95.0, -310.0, -140.0, -160.0]
    assert round(sum(pnls)) == 315
    records = []
    for i, pnl in enumerate(pnls):
        t = trade(pnl, now - 3300 + i * 160)
        t["data"].update(symbol=("BTC/USDT", "ETH/USDT", "SOL/USDT")[i % 3], side=("buy", "sell")[i % 2],
                         exchange=("binance", "kraken")[i % 2])
        records.append(t)
    records += [{"kind": "exchange_status", "data": {"exchange": name, "connected": name == "binance",
                                                     "rate_limit_remaining": left}}
                for name, left in (("binance", 900.0), ("kraken", 35.0))]
    records += [{"kind": "latency", "data": {"exchange": "binance", "seconds": s}} for s in (0.01, 0.02, 0.03, 0.09)]
    ingest_batch(store, keys, settings, {"batch_id": "story", "records": records})


def test_status_page_at_phone_and_desktop_width(chromium: DevTools, tmp_path, redis_url, store, keys):
    settings = parse_settings({"redis": {"url": redis_url}, "websocket": {"port": free_port()},
                               "monitoring": {"initial_capital_usd": INITIAL_CAPITAL_USD},
                               "recovery": {"dry_run": True}}, env={})
    now = time.time()
    seed_trading_story(store, keys, settings, now)
    checker = HealthChecker(settings, store, keys, alert_manager=_NoAlerts())
    for check in ("disk_space", "system_resources", "portfolio_health", "api_rate_limits"):
        checker.check_now(check)
    RecoveryRunner(settings, store, keys).run("portfolio_health", "rec-1", {})
    manager = AlertManager(store, keys, settings, dispatch=lambda *a: None)
    alert = manager.evaluate(build_snapshot(store, keys, settings)).created
    loss = next(a for a in alert if a.rule_name == "large_loss")
    assert loss.metadata["value"] == pytest.approx(1185 / 11500)
    # One more loss after the breach: the card's "now" differs from its "at breach".
    ingest_batch(store, keys, settings, {"batch_id": "later", "records": [trade(-110.0, now - 60)]})
    server = ServerThread(settings, store, keys).start()
    try:
        chromium.send("Page.enable")
        chromium.send("Runtime.enable")
        set_viewport(chromium, *PHONE, loaded=False)
        chromium.send("Page.navigate", {"url": f"{server.http_url}/"})
        wait_until(lambda: chromium.evaluate("document.getElementById('conn-state').textContent") == "live",
                   timeout=10, message="the page's WebSocket to connect")
        assert chromium.evaluate("window.innerWidth") == PHONE[0]
        card = f"document.querySelector('[data-alert-id=\"{loss.alert_id}\"]')"
        values = chromium.evaluate(f"Array.from({card}.querySelectorAll('.values div')).map(d => d.innerText)")
        assert values == ["AT BREACH\n10.30%", "NOW\n11.26%", "LIMIT\n10.00%"], values
        # Recent trades: the 21 ingested, newest first, capped at 20.
        trades = chromium.evaluate("Array.from(document.querySelectorAll('#recent-trades tr')).map(r => r.innerText)")
        assert len(trades) == 20 and "-$110.00" in trades[0]
        # Health messages in words and percent: no raw fraction, no setting names.
        health = chromium.evaluate("document.getElementById('health').innerText")
        assert "drawdown 10.3% (limit 15%)" in health and "0.1" not in health.replace("10.", "")
        assert "_" not in chromium.evaluate(
            "Array.from(document.querySelectorAll('#health td.text')).map(c => c.textContent).join(' ')")
        assert chromium.evaluate("document.querySelector('#health a').getAttribute('href')").startswith(
            "/health-checks.html#")

        def chart_ready() -> dict[str, Any] | None:
            chart = chromium.evaluate(CHART_JS)
            return chart if chart and len(chart["x"]) >= 2 and len(chart["y"]) >= 2 else None

        chart = wait_until(chart_ready, timeout=5, message="the equity chart with both axes")
        assert any(":" in label for label in chart["x"]), chart  # times of day on the time axis
        assert all("$" in label for label in chart["y"]), chart  # dollars on the value axis
        check_layout(chromium, PHONE[0])
        assert chart["canvas"] <= PHONE[0]
        screenshot(chromium, tmp_path / "status-page-390.png")
        rect = chromium.evaluate(f"(() => {{ const r = {card}.getBoundingClientRect();"
                                 " return {x: r.left, y: r.top + window.scrollY, width: r.width, height: r.height}; })()")
        screenshot(chromium, tmp_path / "status-alert-card.png",
                   {"x": rect["x"] - 4, "y": rect["y"] - 4, "width": rect["width"] + 8, "height": rect["height"] + 8,
                    "scale": 2})

        # The Acknowledge button acknowledges through the alerting area: the card says who, the store agrees.
        chromium.evaluate(f"{card}.querySelector('button.acknowledge').click()")
        wait_until(lambda: (chromium.evaluate(f"{card}.querySelector('.ack') && {card}.querySelector('.ack').textContent")
                            or "").startswith("✓ acknowledged by status page at "),
                   timeout=5, message="the card to show the acknowledgement")
        assert chromium.evaluate(f"{card}.querySelector('button.acknowledge')") is None
        stored = load_alert(store, keys, loss.alert_id)
        assert stored is not None and stored.acknowledged and stored.acknowledged_by == "status page"
        # An ack pressed by mistake is taken back on the same card: Unacknowledge, and Acknowledge is back.
        chromium.evaluate(f"{card}.querySelector('button.unacknowledge').click()")
        wait_until(lambda: chromium.evaluate(f"!{card}.querySelector('.ack') && !!{card}.querySelector('button.acknowledge')"),
                   timeout=5, message="the card to drop the acknowledgement")
        stored = load_alert(store, keys, loss.alert_id)
        assert stored is not None and not stored.acknowledged

        # A new trade appears at the top of the list, live.
        result = ingest_batch(store, keys, settings, {"batch_id": "live", "records": [trade(42.0, time.time())]})
        publish(store, keys, EventType.TRADE, result.summary())
        wait_until(lambda: "$42.00" in chromium.evaluate("document.querySelector('#recent-trades tr').innerText"),
                   timeout=5, message="the new trade on top of the list")

        set_viewport(chromium, *DESKTOP)
        wait_until(lambda: (chart_ready() or {}).get("canvas", 0) > 500, timeout=5, message="the chart to widen")
        check_layout(chromium, DESKTOP[0])
        screenshot(chromium, tmp_path / "status-page-1440.png")
    finally:
        server.stop()
