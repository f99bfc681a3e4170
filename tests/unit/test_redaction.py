"""What Flower shows of task arguments: summaries, never raw batches or secret values."""

from __future__ import annotations

from graphwiz_monitoring.celery.redaction import MAX_REPR_CHARS, summarize, task_argsrepr
from graphwiz_monitoring.config import MASK


def _batch(n: int) -> dict:
    records = [{"kind": "trade", "data": {"trade_id": f"t{i}", "symbol": "BTC/USDT", "pnl": 1.5}} for i in range(n)]
    records.append({"kind": "heartbeat", "data": {"pid": 1}})
    return {"batch_id": "b-42", "records": records}


def test_ingest_batches_show_id_and_counts_only() -> None:
    args, kwargs = task_argsrepr("workers.ingest.ingest_batch", (_batch(1000),), {})
    assert args == "({'batch_id': 'b-42', 'records': 1001, 'kinds': {'heartbeat': 1, 'trade': 1000}},)"
    assert kwargs == "{}"
    args, kwargs = task_argsrepr("workers.ingest.ingest_batch", (), {"batch": _batch(3)})
    assert "t0" not in kwargs and "'records': 4" in kwargs


def test_trades_show_ids_not_bodies() -> None:
    trade = {"trade_id": "t1", "symbol": "ETH/USDT", "side": "buy", "price": 3000, "pnl": -12.5}
    args, _ = task_argsrepr("workers.ingest.record_trade", (trade,), {})
    assert args == "({'trade_id': 't1', 'symbol': 'ETH/USDT', 'side': 'buy'},)"
    args, _ = task_argsrepr("workers.ingest.record_trades", ([trade] * 50,), {})
    assert args == "('<50 trades>',)"


def test_other_tasks_keep_ids_and_mask_secret_looking_values() -> None:
    args, kwargs = task_argsrepr("workers.notify.deliver", ("a1b2", "discord"), {"kind": "firing"})
    assert (args, kwargs) == ("('a1b2', 'discord')", "{'kind': 'firing'}")
    args, kwargs = task_argsrepr("workers.recovery.run_recovery", ({"check": "x", "webhook_url": "https://s3cret"},),
                                 {"api_key": "k3y", "bot_token": "t0k"})
    assert "s3cret" not in args and "k3y" not in kwargs and "t0k" not in kwargs
    assert MASK in args and kwargs.count(MASK) == 2
    args, _ = task_argsrepr("workers.x.y", ("z" * 5000, list(range(100))), {})
    assert len(args) <= MAX_REPR_CHARS and "<100 items>" in args


def test_summarize_bounds_depth_and_odd_types() -> None:
    assert summarize({"a": {"b": {"c": {"d": 1}}}}) == {"a": {"b": {"c": "<1 keys>"}}}
    assert summarize(object()) == "<object>"
    assert summarize([1, "x", None, 2.5]) == [1, "x", None, 2.5]
