"""Several traders on one deployment (issue 13 item 7): two real trader processes running the
description's Basic Usage (``enable_prometheus: True``) with different ``trader.name`` beside one real
ingest worker report two portfolios: both are in the snapshot and in the first trader's /metrics with
their ``trader`` label, and the unlabelled total is their sum (before, the second overwrote the first).
"""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.metrics.snapshot import build_snapshot
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import free_port, wait_until
from tests.e2e.test_description_servers import ServingTrader

pytestmark = pytest.mark.e2e

PORTFOLIOS = {
    "alpha": {"total_value": 10_000.0, "cash": 4_000.0,
              "positions": [{"symbol": "BTC/USDT", "quantity": 0.12, "value": 6_000.0}]},
    "beta": {"total_value": 2_500.0, "cash": 2_500.0, "positions": []},
}


def _scrape(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            body = answer.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_two_traders_with_different_names_report_two_portfolios(tmp_path, redis_url, celery_processes) -> None:
    worker = celery_processes("worker", "-Q", "ingest", "-c", "1", "-n", "ingest@%h", "--loglevel", "INFO",
                              "--without-gossip", "--without-mingle")
    metrics_port = free_port()

    def config(name: str) -> dict[str, Any]:
        return {  # the description's Basic Usage dict, with a free port, plus the test's Redis and a name
            'monitoring': {'prometheus_port': metrics_port, 'enable_prometheus': True},
            'redis': {'url': redis_url},
            'trader': {'name': name, 'journal_dir': str(tmp_path / name / "journal")},
        }

    traders = [ServingTrader(tmp_path / name, config(name), redis_url, portfolio=PORTFOLIOS[name])
               for name in PORTFOLIOS]
    try:
        for trader in traders:
            assert trader.wait_for("recorded")["delivered"] is True, trader.output()
        expected = {
            'graphwiz_trader_portfolio_value_usd{trader="alpha"}': 10_000.0,
            'graphwiz_trader_portfolio_value_usd{trader="beta"}': 2_500.0,
            'graphwiz_trader_portfolio_cash_usd{trader="alpha"}': 4_000.0,
            'graphwiz_trader_portfolio_cash_usd{trader="beta"}': 2_500.0,
            'graphwiz_trader_total_trades_total{trader="alpha"}': 1.0,
            'graphwiz_trader_total_trades_total{trader="beta"}': 1.0,
            'graphwiz_trader_pnl_usd{trader="alpha"}': 150.5,
            'graphwiz_trader_pnl_usd{trader="beta"}': 150.5,
            "graphwiz_portfolio_value_usd": 12_500.0,
            "graphwiz_portfolio_cash_usd": 6_500.0,
            "graphwiz_trading_total_trades_total": 2.0,
        }

        def all_exported() -> dict[str, float] | None:
            scraped = _scrape(metrics_port)
            heartbeats = [f'graphwiz_trader_heartbeat_timestamp_seconds{{trader="{n}"}}' for n in PORTFOLIOS]
            if all(scraped.get(k) == pytest.approx(v) for k, v in expected.items()) and \
                    all(k in scraped for k in heartbeats):
                return scraped
            return None

        wait_until(all_exported, timeout=30, interval=0.2, message=f"both portfolios on /metrics: {expected}")

        settings = parse_settings({"redis": {"url": redis_url}}, env={})
        snapshot = build_snapshot(Store(redis_url), KeySpace(), settings)
        assert set(snapshot["traders"]) == {"alpha", "beta"}
        assert snapshot["traders"]["alpha"]["portfolio"]["value_usd"] == 10_000.0
        assert snapshot["traders"]["alpha"]["portfolio"]["positions_value_usd"] == 6_000.0
        assert snapshot["traders"]["beta"]["portfolio"]["value_usd"] == 2_500.0
        assert snapshot["portfolio"]["value_usd"] == pytest.approx(12_500.0)
        assert snapshot["portfolio"]["positions_value_usd"] == pytest.approx(6_000.0)
        assert snapshot["trading"]["total_trades"] == 2
        assert all(snapshot["traders"][n]["trading"]["total_trades"] == 1 for n in PORTFOLIOS)
        assert all(snapshot["traders"][n]["last_seen"] is not None for n in PORTFOLIOS)
        assert worker.alive()
    finally:
        for trader in traders:
            trader.close()
