"""Record validation: the original example works, bad input is refused naming field and value."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from graphwiz_monitoring.errors import GraphwizError, ValidationError
from graphwiz_monitoring.metrics.models import Portfolio, Prediction, new_id, parse

EXAMPLE = {"symbol": "BTC/USDT", "side": "buy", "price": 50000, "quantity": 0.1, "pnl": 150.50, "success": True}


def test_original_example_trade_is_valid() -> None:
    trade = parse("trade", EXAMPLE).wire()
    assert trade["price"] == 50000.0 and trade["quantity"] == 0.1 and trade["pnl"] == 150.5
    assert trade["side"] == "buy" and trade["success"] is True
    assert trade["trade_id"] and trade["timestamp"] > 1.6e9


def test_generated_ids_are_unique_and_caller_values_are_kept() -> None:
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    trade = parse("trade", {**EXAMPLE, "trade_id": "ord-1", "timestamp": 1_700_000_000.5}).wire()
    assert trade["trade_id"] == "ord-1" and trade["timestamp"] == 1_700_000_000.5


def test_timestamps_accept_datetime_and_iso_text() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    assert parse("trade", {**EXAMPLE, "timestamp": when}).timestamp == when.timestamp()
    assert parse("trade", {**EXAMPLE, "timestamp": "2024-01-01T00:00:00Z"}).timestamp == when.timestamp()
    assert parse("trade", {**EXAMPLE, "timestamp": datetime(2024, 1, 1)}).timestamp == when.timestamp()  # naive = UTC


def test_lenient_where_it_is_safe() -> None:
    assert parse("trade", {**EXAMPLE, "side": "SELL"}).side == "sell"
    assert parse("trade", {**EXAMPLE, "price": Decimal("50000.5")}).price == 50000.5
    assert parse("trade", {**EXAMPLE, "unknown_key": object()}).symbol == "BTC/USDT"  # unknown keys ignored


@pytest.mark.parametrize(("field", "value"), [
    ("price", -1), ("price", math.nan), ("price", math.inf), ("price", "50000"), ("price", True),
    ("quantity", -0.1), ("quantity", -math.inf), ("side", "hold"), ("side", None), ("success", "yes"),
    ("pnl", math.nan), ("pnl", 1e300), ("timestamp", 1.7e12), ("timestamp", -5), ("exchange", "a:b"),
    ("symbol", ""), ("symbol", "x" * 65), ("trade_id", "has space"), ("execution_time", -1.0),
])
def test_bad_trade_values_name_field_and_value(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        parse("trade", {**EXAMPLE, field: value})
    message = str(info.value)
    assert field in message
    assert repr(value)[:20] in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, GraphwizError)


def test_missing_fields_are_named() -> None:
    with pytest.raises(ValidationError, match="symbol: required field is missing"):
        parse("trade", {"side": "buy", "price": 1, "quantity": 1})


def test_not_a_dict_and_unknown_kind() -> None:
    with pytest.raises(ValidationError, match="must be a dict, got list"):
        parse("trade", [1, 2])
    with pytest.raises(ValidationError, match="unknown record kind"):
        parse("order", {})


def test_prediction_validation_and_failure_flag() -> None:
    p = parse("prediction", {"agent": "momentum_agent", "prediction": 1, "confidence": 0.85, "symbol": "BTC/USDT"})
    assert isinstance(p, Prediction) and not p.failed
    assert parse("prediction", {"agent": "a", "success": False}).failed
    failed = parse("prediction", {"agent": "a", "error": "boom " * 500})
    assert failed.failed and len(failed.error) == 500  # long error text is truncated, not refused
    with pytest.raises(ValidationError, match="confidence"):
        parse("prediction", {"agent": "a", "confidence": 85})


def test_portfolio_shapes() -> None:
    p = parse("portfolio", {"total_value": 1000, "cash": 500,
                            "positions": {"BTC/USDT": {"quantity": 0.01, "price": 50000}, "ETH/USDT": -100}})
    assert isinstance(p, Portfolio)
    assert p.value == 1000 and p.positions_value == 400 and p.exposure == 600
    assert parse("portfolio", {"cash": 100, "positions": [{"symbol": "X", "amount": 2, "current_price": 10}]}).value == 120
    short = parse("portfolio", {"value": 1000, "positions": [{"symbol": "X", "quantity": -2, "price": 10}]})
    assert short.positions[0].value == -20 and short.exposure == 20
    with pytest.raises(ValidationError, match="needs value or price"):
        parse("portfolio", {"positions": [{"symbol": "X", "quantity": 1}]})
    with pytest.raises(ValidationError, match="needs value, cash or positions"):
        parse("portfolio", {})
    with pytest.raises(ValidationError, match="positions.0.price"):
        parse("portfolio", {"value": 1, "positions": [{"symbol": "X", "quantity": 1, "price": -3}]})


def test_latency_status_system_heartbeat() -> None:
    assert parse("latency", {"exchange": "binance", "seconds": 0.25}).seconds == 0.25
    with pytest.raises(ValidationError, match="seconds"):
        parse("latency", {"exchange": "binance", "seconds": -0.1})
    assert parse("exchange_status", {"exchange": "binance", "connected": False}).connected is False
    with pytest.raises(ValidationError, match="connected"):
        parse("exchange_status", {"exchange": "binance", "connected": "no"})
    sample = parse("system", {"host": "h1", "cpu_percent": 12.5, "disks": {"/": 40.0},
                              "network": {"eth0": {"sent": 1, "recv": 2}}})
    assert sample.wire()["network"] == {"eth0": {"sent": 1.0, "recv": 2.0}}
    with pytest.raises(ValidationError, match="cpu_percent"):
        parse("system", {"host": "h1", "cpu_percent": 101})
    with pytest.raises(ValidationError, match="info"):
        parse("heartbeat", {"host": "h1", "info": {"deep": {"x": 1}}})


def test_heartbeat_client_stats_are_typed_counts() -> None:
    beat = parse("heartbeat", {"host": "h1", "client": {"journal_bytes": 10, "refused": 2, "unknown": 1}})
    assert beat.wire()["client"] == {"journal_bytes": 10, "journal_max_bytes": 0, "refused": 2, "resent_batches": 0,
                                     "send_failures": 0, "pending_records": 0}
    assert parse("heartbeat", {"host": "h1"}).wire()["client"] is None  # other reporters: no stats, not zeros
    for bad in ({"refused": -1}, {"refused": True}, {"journal_bytes": "10"}, {"journal_bytes": 1.5}, [1]):
        with pytest.raises(ValidationError, match="client"):
            parse("heartbeat", {"host": "h1", "client": bad})
