"""`promtool check metrics` (Prometheus' own naming lint) passes on a full /metrics: trades, exchanges, agents,
portfolio, system samples, several traders, alerts, notifications, dead letters, health, breakers, recovery."""

from __future__ import annotations

import asyncio
import subprocess
import time

import requests

from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.exporter.server import ExporterServer
from graphwiz_monitoring.guards.breaker import CircuitBreaker
from graphwiz_monitoring.health.checker import HealthChecker
from graphwiz_monitoring.metrics import ingest
from graphwiz_monitoring.metrics.catalogue import CATALOGUE
from graphwiz_monitoring.state.dead_letters import add_dead_letter
from tests.conftest import require_binary

# Renamed in issue 16 (promtool's lint, and ratios named as ratios): the old names must stay out.
OLD_NAMES = ("graphwiz_risk_position_count", "graphwiz_exchange_fill_rate", "graphwiz_exchange_error_rate",
             "graphwiz_trading_win_rate")


def _feed(store, keys, settings) -> None:
    now = time.time()
    trade = {"symbol": "BTC/USDT", "side": "buy", "price": 10.0, "quantity": 1.0, "exchange": "binance"}
    for trader, pnl in (("alpha", 5.0), ("beta", -2.0), ("gamma", 1.5)):
        records = [{"kind": "trade", "data": {**trade, "pnl": pnl, "execution_time": 0.03}},
                   {"kind": "trade", "data": {**trade, "pnl": -1.0, "success": False, "execution_time": 2.0}},
                   {"kind": "latency", "data": {"exchange": "binance", "seconds": 0.2}},
                   {"kind": "latency", "data": {"exchange": "kraken", "seconds": 0.4, "error": True}},
                   {"kind": "exchange_status", "data": {"exchange": "binance", "connected": True,
                                                        "rate_limit_remaining": 77}},
                   {"kind": "prediction", "data": {"agent": "momentum_agent", "prediction": 1, "confidence": 0.9,
                                                   "actual_outcome": 1}},
                   {"kind": "portfolio", "data": {"value": 1000.0, "cash": 400.0, "positions": [
                       {"symbol": "BTC/USDT", "quantity": 1, "value": 600.0}]}},
                   {"kind": "system", "data": {"host": f"h-{trader}", "cpu_percent": 12.0, "memory_percent": 30.0,
                                               "memory_used_bytes": 1e9, "memory_available_bytes": 2e9,
                                               "load1": 0.5, "disks": {"/": 40.0},
                                               "network": {"eth0": {"sent": 10, "recv": 20}}}},
                   {"kind": "heartbeat", "data": {"host": f"h-{trader}", "pid": 7, "timestamp": now,
                                                  "client": {"pending_records": 3, "refused": 1}}}]
        ingest.ingest_batch(store, keys, settings, {"batch_id": f"b-{trader}", "trader": trader,
                                                    "records": records})
    manager = AlertManager(store, keys, settings, dispatch=lambda *args: None)
    manager.evaluate({"exchanges": {"binance": {"connected": False}}, "risk": {"leverage": 5}})
    store.r.hincrby(keys.notification_counts, "log|sent", 3)
    add_dead_letter(store, keys, "notification", {"alert_id": "x", "channel": "slack", "kind": "firing"}, "gave up")
    CircuitBreaker(store, keys, "channel.slack", settings.circuit_breakers).record_failure("timeout")
    asyncio.run(HealthChecker(settings, store, keys).run_all_health_checks())


def test_promtool_check_metrics_passes_on_a_full_scrape(store, keys, settings) -> None:
    promtool = require_binary("promtool")
    _feed(store, keys, settings)
    exporter = ExporterServer(settings, host="127.0.0.1", port=0).start()
    try:
        text = requests.get(exporter.url + "/metrics", timeout=10).text
    finally:
        exporter.stop()
    # The scrape is full: most families have samples, among them the per-trader, alert and health ones.
    for name in ("graphwiz_trader_pnl_usd", "graphwiz_alert_active", "graphwiz_health_status",
                 "graphwiz_circuit_breaker_state", "graphwiz_exchange_latency_seconds_bucket"):
        assert f"\n{name}{{" in text, name
    assert text.count('trader="') >= 3
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr
    for old in OLD_NAMES:
        assert old not in text and old not in CATALOGUE


def test_readme_metric_table_lists_the_catalogue_and_the_renames() -> None:
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Metrics"):readme.index("Renamed in issue 16")]
    renames = readme[readme.index("Renamed in issue 16"):readme.index("## Live stream")]
    for name, spec in CATALOGUE.items():
        assert f"| `{name}` | {spec.kind.value} |" in table, name
    for old in OLD_NAMES:
        assert f"| `{old}` |" in renames and old not in table
