"""The snapshot built from ingested records: exchanges, agents, portfolio, risk, system, trader."""

from __future__ import annotations

import time

import pytest

from graphwiz_monitoring.metrics import ingest
from graphwiz_monitoring.metrics.models import parse
from graphwiz_monitoring.metrics.retention import trim_history
from graphwiz_monitoring.metrics.snapshot import build_snapshot
from graphwiz_monitoring.metrics.system import collect_host_sample, write_host_sample

NOW = time.time()


def rec(kind: str, **data) -> dict:
    return {"kind": kind, "data": data}


def run(store, keys, settings, *records, batch_id: str | None = None) -> ingest.IngestResult:
    return ingest.ingest_batch(store, keys, settings, {"batch_id": batch_id or f"b{time.monotonic_ns()}",
                                                       "records": list(records)})


def test_empty_state_gives_none_not_zero(store, keys, settings) -> None:
    snap = build_snapshot(store, keys, settings)
    assert snap["trading"]["total_trades"] == 0 and snap["trading"]["win_rate"] is None
    assert snap["trading"]["max_drawdown"] is None and snap["trading"]["sharpe_ratio"] is None
    assert snap["system"]["cpu_percent"] is None and snap["exchanges"] == {} and snap["agents"] == {}
    assert snap["risk"]["leverage"] is None and snap["risk"]["var_95_usd"] is None
    assert snap["portfolio"]["value_usd"] is None and snap["trader"]["last_seen"] is None
    assert snap["neo4j"] == {"connected": None}


def test_exchange_latency_rates_and_status(store, keys, settings) -> None:
    records = [rec("latency", exchange="binance", seconds=s / 100, timestamp=NOW) for s in range(1, 101)]
    records += [rec("latency", exchange="binance", seconds=1.0, error=True, timestamp=NOW)]
    trade = {"symbol": "BTC/USDT", "side": "buy", "price": 1.0, "quantity": 1.0, "exchange": "binance",
             "timestamp": NOW}
    records += [rec("trade", **trade, success=i < 7) for i in range(10)]
    records += [rec("exchange_status", exchange="binance", connected=False, rate_limit_remaining=3,
                    timestamp=NOW - 10),
                rec("exchange_status", exchange="binance", connected=True, rate_limit_remaining=42, timestamp=NOW)]
    run(store, keys, settings, *records)
    run(store, keys, settings, rec("exchange_status", exchange="binance", connected=False, timestamp=NOW - 5))
    ex = build_snapshot(store, keys, settings)["exchanges"]["binance"]
    assert ex["connected"] is True and ex["rate_limit_remaining"] == 42  # the older status does not win
    assert ex["p50_latency"] == pytest.approx(0.51)  # 101 samples: 0.01..1.00 and 1.0
    assert ex["p99_latency"] == pytest.approx(1.0)
    assert ex["fill_rate"] == pytest.approx(0.7)  # 7 of 10 orders filled
    assert ex["error_rate"] == pytest.approx(4 / 111)  # 3 failed orders + 1 failed call / 10 orders + 101 calls
    stats = store.r.hgetall(keys.exchange_stats("binance"))
    assert stats["lat_count"] == "101" and "lat_b0" not in stats and stats["lat_b1"] == "1"  # 0.01 <= le 0.01
    assert float(stats["lat_sum"]) == pytest.approx(sum(s / 100 for s in range(1, 101)) + 1.0)


def test_rates_only_count_the_window(store, keys, make_settings) -> None:
    settings = make_settings(retention={"rate_window_seconds": 600})
    old = {"symbol": "X", "side": "buy", "price": 1.0, "quantity": 1.0, "exchange": "kraken", "timestamp": NOW - 3600}
    run(store, keys, settings, *[rec("trade", **old, success=False) for _ in range(5)],
        rec("trade", **{**old, "timestamp": NOW}, success=True))
    assert build_snapshot(store, keys, settings)["exchanges"]["kraken"]["fill_rate"] == 1.0


def test_agents_accuracy_confidence_and_recent_failures(store, keys, make_settings) -> None:
    settings = make_settings(retention={"agent_failure_window_seconds": 60})
    now = time.time()  # not the module's NOW: the suite may run longer than the 60 s window
    p = [rec("prediction", agent="momentum_agent", prediction=1, confidence=0.8, actual_outcome=0.5),
         rec("prediction", agent="momentum_agent", prediction="sell", confidence=0.6, actual_outcome=2.0),
         rec("prediction", agent="momentum_agent", prediction=1, confidence=0.7),
         rec("prediction", agent="momentum_agent", error="timeout", timestamp=now),
         rec("prediction", agent="momentum_agent", success=False, timestamp=now - 3600)]
    run(store, keys, settings, *p)
    agent = build_snapshot(store, keys, settings)["agents"]["momentum_agent"]
    assert agent == {"accuracy": 0.5, "confidence": pytest.approx(0.7), "predictions": 5, "failures": 1}


def test_portfolio_returns_leverage_and_correlation(store, keys, make_settings) -> None:
    settings = make_settings(retention={"snapshot_interval_seconds": 1})
    values = [(NOW - 8 * 86_400, 800.0), (NOW - 2 * 86_400, 900.0), (NOW - 7200, 1000.0), (NOW - 1800, 1050.0)]
    prices = [100, 110, 99, 120]
    for (ts, value), price in zip(values, prices, strict=True):
        positions = [{"symbol": "BTC/USDT", "quantity": 1, "price": price},
                     {"symbol": "ETH/USDT", "quantity": 2, "price": price / 10},
                     {"symbol": "SOL/USDT", "quantity": -1, "price": 1000 / price}]
        run(store, keys, settings, rec("portfolio", value=value, cash=100.0, positions=positions, timestamp=ts))
    run(store, keys, settings, rec("portfolio", value=1100.0, cash=100.0, timestamp=NOW,
                                   positions=[{"symbol": "BTC/USDT", "quantity": 1, "value": 1500.0},
                                              {"symbol": "ETH/USDT", "quantity": -2, "value": -700.0}]))
    snap = build_snapshot(store, keys, settings)
    pf, risk = snap["portfolio"], snap["risk"]
    assert pf["value_usd"] == 1100.0 and pf["cash_usd"] == 100.0 and pf["positions_value_usd"] == 800.0
    assert pf["returns_1h"] == pytest.approx(1100 / 1000 - 1)  # newest snapshot at least 1 h old: 2 h ago
    assert pf["returns_24h"] == pytest.approx(1100 / 900 - 1)
    assert pf["returns_7d"] == pytest.approx(1100 / 800 - 1)
    assert risk["exposure_usd"] == 2200.0 and risk["leverage"] == pytest.approx(2.0) and risk["position_count"] == 2
    # BTC and ETH move identically, SOL against them: (1 + 2 x rho(BTC, SOL)) / 3, rho close to -1.
    assert -0.4 < risk["correlation_avg"] < -0.3
    trading = snap["trading"]
    assert trading["equity_source"] == "portfolio"
    assert trading["max_drawdown"] == pytest.approx(0.0)
    run(store, keys, settings, rec("portfolio", value=880.0, cash=880.0, timestamp=NOW + 1))
    trading = build_snapshot(store, keys, settings)["trading"]
    assert trading["current_drawdown"] == pytest.approx(0.2) and trading["max_drawdown"] == pytest.approx(0.2)


def test_returns_are_none_without_old_enough_snapshots(store, keys, settings) -> None:
    run(store, keys, settings, rec("portfolio", value=1000.0, timestamp=NOW - 600), rec("portfolio", value=1100.0))
    pf = build_snapshot(store, keys, settings)["portfolio"]
    assert pf["returns_1h"] is None and pf["returns_7d"] is None


def test_var_from_trade_pnls(store, keys, settings) -> None:
    trades = [rec("trade", symbol="X", side="sell", price=1.0, quantity=1.0, pnl=float(p)) for p in range(-20, 20)]
    run(store, keys, settings, *trades)
    risk = build_snapshot(store, keys, settings)["risk"]
    assert risk["var_95_usd"] == 19.0 and risk["var_99_usd"] == 20.0


def test_system_hosts_and_trader(store, keys, settings) -> None:
    worker = collect_host_sample("worker-1")
    write_host_sample(store, keys, worker, 600)
    run(store, keys, settings, rec("system", host="trader-host", cpu_percent=95.5, memory_percent=20.0,
                                   disks={"/": 50.0, "/data": 97.0}, network={"eth0": {"sent": 5, "recv": 6}}),
        rec("heartbeat", host="trader-host", pid=4242, info={"neo4j_connected": False}))
    snap = build_snapshot(store, keys, settings)
    assert set(snap["system"]["hosts"]) == {"worker-1", "trader-host"}
    assert snap["system"]["cpu_percent"] == max(95.5, worker.cpu_percent)  # max over hosts
    assert snap["system"]["disk_percent"] == max(97.0, *worker.disks.values())
    assert snap["system"]["hosts"]["worker-1"]["memory_percent"] > 0
    assert snap["trader"]["host"] == "trader-host" and snap["trader"]["pid"] == 4242
    assert snap["trader"]["age_seconds"] < 60
    assert snap["neo4j"]["connected"] is False


def test_trim_history_by_age(store, keys, make_settings) -> None:
    settings = make_settings(retention={"trades_max_age_hours": 1, "snapshots_max_age_hours": 1,
                                        "snapshot_interval_seconds": 1, "rate_window_seconds": 60})
    run(store, keys, settings, rec("portfolio", value=1.0, timestamp=NOW - 7200), rec("portfolio", value=2.0),
        rec("trade", symbol="X", side="buy", price=1.0, quantity=1.0, exchange="e", timestamp=NOW - 7200),
        rec("trade", symbol="X", side="buy", price=1.0, quantity=1.0, exchange="e"))
    removed = trim_history(store, keys, settings, now=time.time() + 2 * 3600)
    assert removed["trades"] == 2 and removed["trade_ids"] == 2 and removed["batches"] == 1
    assert removed["portfolio_snapshots"] == 2 and removed["window_fields"] >= 2
    assert store.r.xlen(keys.trades) == 0 and store.r.hlen(keys.exchange_window("e")) == 0
    assert parse("trade", {"symbol": "X", "side": "buy", "price": 1, "quantity": 1})  # library still usable
