"""Worker-side ingestion against a real Redis: idempotency, aggregates, rejections, bounds."""

from __future__ import annotations

import json

import pytest

from graphwiz_monitoring.metrics import ingest
from graphwiz_monitoring.metrics.codec import STREAM_FIELD, decode_entry
from graphwiz_monitoring.metrics.snapshot import build_snapshot
from graphwiz_monitoring.state.dead_letters import list_dead_letters

DAY = 86_400.0
T0 = 20_000 * DAY + 3600  # 01:00 UTC on some day


def trade(n: int, pnl: float | None = 10.0, **extra) -> dict:
    return {"kind": "trade", "data": {"symbol": "BTC/USDT", "side": "buy", "price": 100.0, "quantity": 2.0,
                                      "pnl": pnl, "trade_id": f"t{n}", "timestamp": T0 + n, **extra}}


def batch(batch_id: str, records: list) -> dict:
    return {"batch_id": batch_id, "records": records}


def test_trades_are_counted_once_per_trade_id_and_batch(store, keys, settings) -> None:
    first = ingest.ingest_batch(store, keys, settings, batch("b1", [trade(1), trade(2, -4.0), trade(2, -4.0)]))
    assert (first.new_trades, first.duplicate_trades) == (2, 1)
    again = ingest.ingest_batch(store, keys, settings, batch("b1", [trade(1), trade(2, -4.0)]))
    assert again.duplicate and again.new_trades == 0
    overlap = ingest.ingest_batch(store, keys, settings, batch("b2", [trade(2, -4.0), trade(3, success=False,
                                                                                          pnl=None)]))
    assert (overlap.new_trades, overlap.duplicate_trades) == (1, 1)
    agg = store.r.hgetall(keys.trading_agg)
    assert agg["total_trades"] == "3" and agg["successful_trades"] == "2" and agg["failed_trades"] == "1"
    assert float(agg["pnl_total"]) == 6.0 and agg["wins"] == "1" and agg["losses"] == "1"
    assert agg["pnl_trades"] == "2"
    assert store.r.xlen(keys.trades) == 3
    assert store.r.lrange(keys.trade_pnls, 0, -1) == ["10", "-4"]
    stats = store.r.hgetall(keys.ingest_stats)
    assert stats["records:trade"] == "3" and stats["duplicates:trade"] == "2"


def test_stream_keeps_the_full_trade(store, keys, settings) -> None:
    ingest.ingest_batch(store, keys, settings, batch("b", [trade(1, exchange="binance", strategy="mom",
                                                                  fee=0.5, execution_time=0.02)]))
    (_, fields), = store.r.xrange(keys.trades)
    stored = decode_entry(fields[STREAM_FIELD])
    assert stored == {"trade_id": "t1", "timestamp": T0 + 1, "symbol": "BTC/USDT", "side": "buy", "price": 100.0,
                      "quantity": 2.0, "pnl": 10.0, "success": True, "exchange": "binance", "strategy": "mom",
                      "fee": 0.5, "execution_time": 0.02}


def test_daily_pnl_by_utc_day_of_the_trade(store, keys, settings) -> None:
    records = [trade(1, 5.0), {**trade(2, 7.0), "data": {**trade(2, 7.0)["data"], "timestamp": T0 - 2 * 3600}}]
    ingest.ingest_batch(store, keys, settings, batch("b", records))
    assert store.r.hgetall(keys.pnl_daily) == {"20000": "5", "19999": "7"}


def test_bad_records_are_dead_lettered_and_good_ones_kept(store, keys, settings) -> None:
    records = [trade(1), {"kind": "trade", "data": {"symbol": "X", "side": "buy", "price": -5, "quantity": 1}},
               {"kind": "bogus", "data": {}}, "junk", {"kind": "latency", "data": {"exchange": "e1", "seconds": 0.1}},
               {"kind": "prediction", "data": {"agent": "a", "confidence": 7}}, trade(2)]
    result = ingest.ingest_batch(store, keys, settings, batch("b", records))
    assert result.new_trades == 2 and result.accepted["latency"] == 1
    assert sorted(i for i, _ in result.rejected) == [1, 2, 3, 5]
    letters = list_dead_letters(store, keys, limit=10)
    reasons = {e["kind"]: e["reason"] for e in letters}
    assert "price: Input should be greater than or equal to 0, got -5" in reasons["trade"]
    assert "unknown record kind 'bogus'" in reasons["unknown"]
    assert "confidence" in reasons["prediction"]
    assert any(e["payload"] == "junk" for e in letters)
    stats = store.r.hgetall(keys.ingest_stats)
    assert stats["rejected:trade"] == "1" and stats["rejected:unknown"] == "2" and stats["rejected:prediction"] == "1"
    # A redelivery of the same batch neither counts nor dead-letters again.
    ingest.ingest_batch(store, keys, settings, batch("b", records))
    assert len(list_dead_letters(store, keys, limit=100)) == 4


@pytest.mark.parametrize(("payload", "reason"), [
    ([1, 2], "batch must be a dict, got list"),
    ({"batch_id": 5, "records": []}, "batch_id must be text"),
    ({"batch_id": "x" * 500, "records": []}, "batch_id must be text"),
    ({"batch_id": "b", "records": "nope"}, "records must be a list"),
    ({"batch_id": "b", "records": [{}] * (ingest.MAX_BATCH_RECORDS + 1)}, "too many records"),
])
def test_malformed_payloads_are_dead_lettered_whole(store, keys, settings, payload, reason) -> None:
    result = ingest.ingest_batch(store, keys, settings, payload)
    assert result.rejected and reason in result.rejected[0][1]
    (letter,) = list_dead_letters(store, keys, limit=10)
    assert letter["kind"] == "ingest_batch" and reason in letter["reason"]
    assert len(json.dumps(letter["payload"])) < 20_000  # huge payloads are stored truncated


def test_deeply_nested_payload_never_raises(store, keys, settings) -> None:
    deep: object = "x"
    for _ in range(900):
        deep = {"d": deep}
    result = ingest.ingest_batch(store, keys, settings, batch("b", [{"kind": "trade", "data": deep}, trade(1)]))
    assert result.new_trades == 1 and result.rejected[0][0] == 0


def test_drawdown_on_trade_equity_with_initial_capital(store, keys, make_settings) -> None:
    settings = make_settings(monitoring={"initial_capital_usd": 1000})
    records = [trade(1, 100.0), trade(2, -300.0), trade(3, 50.0)]  # equity 1000 -> 1100 -> 800 -> 850
    ingest.ingest_batch(store, keys, settings, batch("b1", records[:2]))
    ingest.ingest_batch(store, keys, settings, batch("b2", records[2:]))
    trading = build_snapshot(store, keys, settings)["trading"]
    assert trading["max_drawdown"] == pytest.approx(300 / 1100)
    assert trading["current_drawdown"] == pytest.approx(250 / 1100)
    assert trading["equity_usd"] == 850 and trading["equity_source"] == "initial_capital+pnl"
    assert trading["win_rate"] == pytest.approx(2 / 3)


def test_exchange_cardinality_is_bounded(store, keys, make_settings) -> None:
    settings = make_settings(retention={"max_exchanges": 2})
    records = [trade(i, exchange=f"ex{i}") for i in range(3)]
    result = ingest.ingest_batch(store, keys, settings, batch("b", records))
    assert result.new_trades == 2
    assert result.rejected == [(2, "too many exchanges (retention.max_exchanges)")]
    assert store.r.smembers(keys.exchanges) == {"ex0", "ex1"}
    assert list_dead_letters(store, keys)[0]["reason"].startswith("too many exchanges")


def test_dedup_sets_are_bounded_by_count(store, keys, make_settings) -> None:
    settings = make_settings(retention={"trades_max_count": 50})
    for b in range(3):
        ingest.ingest_batch(store, keys, settings, batch(f"b{b}", [trade(b * 40 + i) for i in range(40)]))
    assert store.r.zcard(keys.trade_ids) == 50
    assert store.r.xlen(keys.trades) <= 150  # MAXLEN ~ trims in whole nodes; never unbounded


def _rows(n: int) -> list[dict]:
    from graphwiz_monitoring.metrics.codec import fast_trade

    return [fast_trade({"symbol": "ETH/USDT", "side": "sell", "price": 10.0, "quantity": 1.0, "pnl": 1.0,
                        "trade_id": f"c{i}", "timestamp": T0 + i, "exchange": "kraken"}) for i in range(n)]


def _columns(n: int, **overrides) -> dict:
    """A columnar record with plain lists (the worker accepts them as well as packed number columns)."""
    from graphwiz_monitoring.metrics.codec import TRADE_FIELDS

    rows = _rows(n)
    columns = {f: [r[f] for r in rows] for f in TRADE_FIELDS}
    for name, (row, value) in overrides.items():
        columns[name][row] = value
    return {"kind": "trades", "data": columns}


def test_packed_columns_from_the_client_round_trip(store, keys, settings) -> None:
    from graphwiz_monitoring.metrics.codec import to_columns

    rows = _rows(3)
    rows[1] = {**rows[1], "pnl": None, "execution_time": 0.25}
    result = ingest.ingest_batch(store, keys, settings, batch("b", [{"kind": "trades", "data": to_columns(rows)}]))
    assert result.new_trades == 3 and not result.rejected
    stored = [decode_entry(f[STREAM_FIELD]) for _, f in store.r.xrange(keys.trades)]
    assert stored == rows
    corrupt = to_columns(_rows(2))
    corrupt["price"] = {"f64": "not base64!"}
    result = ingest.ingest_batch(store, keys, settings, batch("b2", [{"kind": "trades", "data": corrupt}]))
    assert result.new_trades == 0 and "base64 doubles" in result.rejected[0][1]


def test_columnar_trades_are_ingested_like_single_ones(store, keys, settings) -> None:
    result = ingest.ingest_batch(store, keys, settings, batch("b", [_columns(5), trade(99)]))
    assert result.new_trades == 6 and not result.rejected
    assert store.r.hget(keys.exchange_stats("kraken"), "orders") == "5"
    stored = [decode_entry(f[STREAM_FIELD])["trade_id"] for _, f in store.r.xrange(keys.trades)]
    assert stored == ["c0", "c1", "c2", "c3", "c4", "t99"]


def test_a_bad_row_in_a_columnar_record_rejects_only_that_trade(store, keys, settings) -> None:
    records = [_columns(4, price=(1, -3.0), side=(3, "hold"))]
    result = ingest.ingest_batch(store, keys, settings, batch("b", records))
    assert result.new_trades == 2
    assert sorted(loc for loc, _ in result.rejected) == ["0.1", "0.3"]
    letters = {e["payload"]["trade_id"]: e for e in list_dead_letters(store, keys)}
    assert set(letters) == {"c1", "c3"} and "price" in letters["c1"]["reason"] and "side" in letters["c3"]["reason"]
    assert all(e["kind"] == "trade" for e in letters.values())


def test_a_malformed_columnar_record_is_rejected_whole(store, keys, settings) -> None:
    broken = _columns(3)
    broken["data"]["price"] = [1.0]  # lengths differ
    result = ingest.ingest_batch(store, keys, settings, batch("b", [broken, {"kind": "trades", "data": [1]}]))
    assert result.new_trades == 0 and [loc for loc, _ in result.rejected] == [0, 1]
    assert "lists of equal length" in result.rejected[0][1]
