"""Property: whatever the trader passes to record_*, it is either accepted as the model accepts it, or
refused with a ValueError naming what is wrong; nothing else escapes and nothing invalid is queued."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphwiz_monitoring.errors import ValidationError
from graphwiz_monitoring.metrics.models import parse
from graphwiz_monitoring.trader.monitor import create_monitor

junk = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                 st.text(max_size=80), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5),
                                                                                            st.integers(), max_size=2))
number = st.one_of(st.floats(-1e6, 1e6), st.integers(-10, 10**6), st.just(math.nan), st.just(math.inf), junk)
trades = st.fixed_dictionaries({}, optional={
    "symbol": st.one_of(st.just("BTC/USDT"), junk), "side": st.one_of(st.sampled_from(["buy", "sell", "Buy"]), junk),
    "price": number, "quantity": number, "pnl": number, "success": st.one_of(st.booleans(), junk),
    "trade_id": st.one_of(st.just("id-1"), junk), "timestamp": st.one_of(st.floats(1e9, 2e9), junk),
    "exchange": st.one_of(st.just("binance"), junk), "execution_time": number})
predictions = st.fixed_dictionaries({}, optional={
    "prediction": number, "confidence": number, "symbol": st.one_of(st.just("ETH/USDT"), junk),
    "success": st.one_of(st.booleans(), junk), "error": junk})
portfolios = st.fixed_dictionaries({}, optional={
    "value": number, "cash": number, "positions": st.one_of(st.lists(st.fixed_dictionaries(
        {"symbol": st.one_of(st.just("BTC/USDT"), junk)}, optional={"quantity": number, "price": number,
                                                                   "value": number}), max_size=3), junk)})


@pytest.fixture(scope="module")
def monitor(tmp_path_factory):
    received: list[dict] = []
    path: Path = tmp_path_factory.mktemp("journal")
    m = create_monitor({"trader": {"journal_dir": str(path), "host_metrics_interval_seconds": 3600}},
                       sender=received.append)
    yield m
    m.client.stop(timeout=2)


def _check(call, kind: str, data) -> None:
    try:
        parse(kind, data)
        valid = True
    except ValidationError:
        valid = False
    try:
        call()
    except ValueError as exc:
        assert isinstance(exc, ValidationError)
        assert not valid, f"refused a valid {kind}: {data!r}: {exc}"
        assert str(exc).startswith(f"invalid {kind}") and ": " in str(exc)
        return
    assert valid, f"accepted an invalid {kind}: {data!r}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trades)
def test_record_trade_accepts_or_explains(monitor, data) -> None:
    _check(lambda: monitor.record_trade(data), "trade", data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(predictions, st.one_of(st.none(), number))
def test_record_agent_prediction_accepts_or_explains(monitor, data, outcome) -> None:
    merged = {**data, "agent": "momentum_agent", **({} if outcome is None else {"actual_outcome": outcome})}
    _check(lambda: monitor.record_agent_prediction("momentum_agent", data, outcome), "prediction", merged)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(portfolios)
def test_update_portfolio_accepts_or_explains(monitor, data) -> None:
    _check(lambda: monitor.update_portfolio_metrics(data), "portfolio", data)
