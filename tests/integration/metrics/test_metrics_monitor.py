"""TradingMonitor end to end without Celery: an in-process sender hands batches to the ingest library."""

from __future__ import annotations

import asyncio
import time

import pytest

from graphwiz_monitoring.errors import PrometheusQueryError, ValidationError
from graphwiz_monitoring.metrics import ingest
from graphwiz_monitoring.trader.monitor import TradingMonitor, create_monitor
from tests.conftest import free_port, write_config

EXAMPLE = {"symbol": "BTC/USDT", "side": "buy", "price": 50000, "quantity": 0.1, "pnl": 150.50, "success": True}


@pytest.fixture
def monitor(tmp_path, redis_url):
    config = {"redis": {"url": redis_url}, "monitoring": {"initial_capital_usd": 10_000,
                                                          "prometheus_url": f"http://127.0.0.1:{free_port()}"},
              "trader": {"journal_dir": str(tmp_path / "journal"), "flush_interval_seconds": 0.01}}
    holder: dict[str, TradingMonitor] = {}

    def deliver(batch: dict) -> None:  # what the Celery task does, minus the broker
        m = holder["m"]
        ingest.ingest_batch(m.store, m.keys, m.settings, batch)

    holder["m"] = create_monitor(config, sender=deliver)
    yield holder["m"]
    holder["m"].client.stop(timeout=5)


def test_original_usage_records_and_reads_back(monitor: TradingMonitor) -> None:
    async def scenario() -> dict:
        await monitor.start()
        trade_id = monitor.record_trade(EXAMPLE)
        monitor.record_trade({**EXAMPLE, "side": "sell", "pnl": -50.5, "exchange": "binance", "trade_id": "x-1"})
        monitor.record_agent_prediction("momentum_agent", {"prediction": 1, "confidence": 0.85, "symbol": "BTC/USDT"})
        monitor.record_agent_prediction("momentum_agent", {"prediction": -1, "confidence": 0.65}, actual_outcome=-0.3)
        monitor.record_exchange_latency("binance", 0.12)
        monitor.update_exchange_status("binance", True, rate_limit_remaining=900)
        monitor.update_portfolio_metrics({"total_value": 10_100, "cash": 5100,
                                          "positions": [{"symbol": "BTC/USDT", "quantity": 0.1, "price": 50000}]})
        assert monitor.flush(10)
        await monitor.stop()
        return {"trade_id": trade_id, "metrics": monitor.get_metrics()}

    result = asyncio.run(scenario())
    metrics = result["metrics"]
    assert result["trade_id"]
    assert metrics["trading"]["total_trades"] == 2 and metrics["trading"]["pnl_usd"] == 100.0
    assert metrics["trading"]["win_rate"] == 0.5
    assert metrics["agents"]["momentum_agent"]["predictions"] == 2
    assert metrics["agents"]["momentum_agent"]["accuracy"] == 1.0
    assert metrics["exchanges"]["binance"]["rate_limit_remaining"] == 900
    assert metrics["exchanges"]["binance"]["p50_latency"] == 0.12
    assert metrics["risk"]["exposure_usd"] == 5000 and metrics["risk"]["leverage"] == pytest.approx(5000 / 10_100)
    assert metrics["portfolio"]["value_usd"] == 10_100
    assert metrics["trader"]["last_seen"] is not None  # heartbeat shipped by the client
    assert metrics["system"]["hosts"], "the trader host reports its own system metrics"


def test_bad_input_raises_value_error_naming_field_and_value(monitor: TradingMonitor) -> None:
    with pytest.raises(ValueError, match=r"price: .*got -1"):
        monitor.record_trade({**EXAMPLE, "price": -1})
    with pytest.raises(ValidationError, match="side"):
        monitor.record_trade({**EXAMPLE, "side": "hodl"})
    with pytest.raises(ValidationError, match="seconds"):
        monitor.record_exchange_latency("binance", float("nan"))
    with pytest.raises(ValidationError, match="connected"):
        monitor.update_exchange_status("binance", "yes")
    with pytest.raises(ValidationError, match="agent"):
        monitor.record_agent_prediction("bad:name", {"prediction": 1})
    with pytest.raises(ValidationError, match="portfolio"):
        monitor.update_portfolio_metrics({"positions": "many"})
    assert monitor.client.pending_records == 0  # nothing invalid was queued


def test_metrics_collector_methods(monitor: TradingMonitor) -> None:
    mc = monitor.metrics_collector
    mc.record_trade({**EXAMPLE, "timestamp": time.time()})
    mc.record_trade({**EXAMPLE, "pnl": -400.0, "timestamp": time.time()})
    mc.record_exchange_latency("kraken", 0.3)
    mc.record_agent_prediction("a1", {"prediction": "buy", "confidence": 0.5}, 1.0)
    mc.update_portfolio_metrics({"value": 20_000, "cash": 20_000})
    sample = mc.collect_system_metrics()
    assert 0 <= sample["cpu_percent"] <= 100 and sample["disks"]
    assert monitor.flush(10)
    trading = mc.calculate_trading_metrics(lookback_hours=1)
    assert trading["total_trades"] == 2 and trading["lookback"]["trades"] == 2
    assert trading["lookback"]["pnl_usd"] == pytest.approx(-249.5)
    risk = mc.calculate_risk_metrics(10_000, [{"symbol": "BTC/USDT", "quantity": 1, "price": 30_000},
                                              {"symbol": "ETH/USDT", "value": -5_000}])
    assert risk["exposure_usd"] == 35_000 and risk["leverage"] == 3.5 and risk["position_count"] == 2
    with pytest.raises(ValidationError, match="position"):
        mc.calculate_risk_metrics(1, [{"symbol": "X"}])
    assert mc.get_all_metrics()["agents"]["a1"]["accuracy"] == 1.0


def test_performance_history_and_prometheus_errors(monitor: TradingMonitor) -> None:
    now = time.time()
    for i, pnl in enumerate([100.0, -300.0, 50.0]):
        monitor.record_trade({**EXAMPLE, "pnl": pnl, "timestamp": now - 60 + i})
    monitor.record_trade({**EXAMPLE, "pnl": 999.0, "timestamp": now - 5 * 3600})  # outside the window
    assert monitor.flush(10)
    history = asyncio.run(monitor.get_trading_performance_history(hours=1))
    assert history["trades"] == 3 and history["pnl_usd"] == -150.0
    assert history["max_drawdown"] == pytest.approx(300 / 10_100)  # capital 10,000 + trade P&L
    assert history["series"][-1]["cumulative_pnl_usd"] == -150.0
    with pytest.raises(PrometheusQueryError, match="unreachable"):
        asyncio.run(monitor.query_prometheus("graphwiz_trading_pnl_usd", hours=1))
    with pytest.raises(PrometheusQueryError, match="resolution"):
        asyncio.run(monitor.query_prometheus("up", hours=1, resolution="soon"))
    with pytest.raises(PrometheusQueryError, match="points"):
        asyncio.run(monitor.query_prometheus("up", hours=24 * 30, resolution="1s"))


def test_create_monitor_without_config_loads_monitoring_yaml(tmp_path, redis_url, monkeypatch) -> None:
    config = write_config(tmp_path / "monitoring.yaml", redis_url, "monitoring:\n  initial_capital_usd: 5000\n")
    monkeypatch.setenv("GRAPHWIZ_CONFIG", str(config))
    monitor = create_monitor()
    assert monitor.settings.monitoring.initial_capital_usd == 5000
    assert create_monitor({"monitoring": {"prometheus_port": 8000, "enable_prometheus": True}}).settings
    monitor.set_dependencies(exchange_manager="ex", agent_manager="ag")
    assert monitor.exchange_manager == "ex" and monitor.agent_manager == "ag" and monitor.neo4j_graph is None
