"""The trade fast path agrees with the pydantic model; the wire encodings round-trip."""

from __future__ import annotations

import math
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from graphwiz_monitoring.errors import ValidationError
from graphwiz_monitoring.metrics import codec
from graphwiz_monitoring.metrics.models import Trade, parse

EXAMPLE = {"symbol": "BTC/USDT", "side": "buy", "price": 50000, "quantity": 0.1, "pnl": 150.50, "success": True}

_any_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**13, 10**13),
                        st.floats(min_value=0, max_value=1e6))
_any_value = st.one_of(_any_number, st.none(), st.booleans(), st.text(max_size=5), st.just("buy"),
                       st.just("BTC/USDT"), st.lists(st.integers(), max_size=2))
_field_values = {
    "symbol": st.one_of(st.just("BTC/USDT"), st.just("ETH-PERP:USDT"), _any_value),
    "side": st.one_of(st.sampled_from(["buy", "sell", "BUY", "Sell"]), _any_value),
    "price": _any_number, "quantity": _any_number, "pnl": st.one_of(st.none(), _any_number),
    "success": st.one_of(st.booleans(), _any_value), "trade_id": st.one_of(st.just("ord-7"), _any_value),
    "timestamp": st.one_of(st.floats(1e9, 2e9), _any_value), "exchange": st.one_of(st.just("binance"), _any_value),
    "strategy": st.one_of(st.none(), st.just("momentum v2"), _any_value), "fee": st.one_of(st.none(), _any_number),
    "execution_time": st.one_of(st.none(), st.floats(0, 100), _any_value),
}
_trades = st.fixed_dictionaries({}, optional=_field_values)


def _normalized(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in ("trade_id", "timestamp")}


@settings(max_examples=800, deadline=None)
@given(_trades)
def test_fast_path_accepts_only_what_the_model_accepts_and_agrees(data: dict) -> None:
    try:
        fast = codec.fast_trade(data)
    except codec.FastPathMiss:
        fast = None
    try:
        model = parse("trade", data).wire()
    except ValidationError:
        model = None
    if fast is None:
        return  # the fallback decides; nothing to compare
    assert model is not None, f"fast path accepted what the model refuses: {data!r}"
    assert list(fast) == list(model)
    assert _normalized(fast) == _normalized(model)
    if "trade_id" in data:
        assert fast["trade_id"] == model["trade_id"]
    if "timestamp" in data:
        assert fast["timestamp"] == model["timestamp"]


def test_fast_path_covers_the_common_shape() -> None:
    fast = codec.fast_trade(EXAMPLE)
    assert _normalized(fast) == _normalized(Trade.model_validate(EXAMPLE).wire())
    for unusual in ({**EXAMPLE, "side": "BUY"}, {**EXAMPLE, "timestamp": "2024-01-01T00:00:00Z"},
                    {**EXAMPLE, "price": math.nan}, [1]):
        try:
            codec.fast_trade(unusual)
        except codec.FastPathMiss:
            continue
        raise AssertionError(f"expected a miss for {unusual!r}")


_valid = st.builds(
    lambda price, qty, pnl, fee, et, success, ex, strat: parse("trade", {
        "symbol": "BTC/USDT", "side": "sell", "price": price, "quantity": qty, "pnl": pnl, "fee": fee,
        "execution_time": et, "success": success, "exchange": ex, "strategy": strat}).wire(),
    st.floats(0, 1e12), st.floats(0, 1e12), st.one_of(st.none(), st.floats(-1e15, 1e15)),
    st.one_of(st.none(), st.floats(-1e6, 1e6)), st.one_of(st.none(), st.floats(0, 86_400)), st.booleans(),
    st.one_of(st.none(), st.just("binance")), st.one_of(st.none(), st.just("mean rev")))


@settings(max_examples=300, deadline=None)
@given(_valid)
def test_history_entry_round_trips(trade: dict) -> None:
    entry = codec.encode_entry(trade)
    assert entry.isascii()
    assert codec.decode_entry(entry.decode()) == trade


def test_pack_trade_layout_matches_ingest_lua() -> None:
    trade = codec.fast_trade({**EXAMPLE, "execution_time": 0.5, "trade_id": "t-1"})
    blob = codec.pack_trade(7, 2, trade)
    head = struct.Struct("<IHBddddH")
    index, ex, flags, ts, pnl, notional, et, id_len = head.unpack_from(blob)
    assert (index, ex, pnl, et, id_len) == (7, 2, 150.5, 0.5, 3)
    assert flags == codec.FLAG_SUCCESS | codec.FLAG_PNL | codec.FLAG_EXEC
    assert notional == 50000 * 0.1 and ts == trade["timestamp"]
    rest = blob[head.size:]
    assert rest[:3] == b"t-1"
    (entry_len,) = struct.unpack_from("<H", rest, 3)
    assert codec.decode_entry(rest[5:5 + entry_len]) == trade
    assert len(rest) == 5 + entry_len
