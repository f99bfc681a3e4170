"""Property, against a real worker: malformed records and payloads sent to the ingest tasks are rejected
one by one into the dead-letter list with a reason, good records in the same batch are kept, and the
worker never crashes."""

from __future__ import annotations

import itertools
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphwiz_monitoring.celery import create_app
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.state.dead_letters import list_dead_letters
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e

_ids = itertools.count()


def good_trade() -> dict:
    return {"symbol": "BTC/USDT", "side": "sell", "price": 100.0, "quantity": 1.0, "pnl": 1.0,
            "trade_id": f"good-{next(_ids)}"}


junk = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                 st.text(max_size=30), st.lists(st.integers(), max_size=3))
bad_trade_data = st.one_of(
    st.builds(lambda v: {**good_trade(), "price": v}, st.one_of(st.floats(max_value=-0.01), st.just(math.nan),
                                                                st.text(max_size=5), st.none())),
    st.builds(lambda v: {**good_trade(), "side": v}, st.text(max_size=8).filter(
        lambda s: s.strip().lower() not in ("buy", "sell"))),
    st.builds(lambda v: {**good_trade(), "symbol": v}, st.just("x" * 100_000)),  # huge
    st.builds(lambda k: {key: v for key, v in good_trade().items() if key != k},
              st.sampled_from(["symbol", "side", "price", "quantity"])),
    junk)
bad_record = st.one_of(
    st.builds(lambda d: {"kind": "trade", "data": d}, bad_trade_data),
    st.builds(lambda c: {"kind": "prediction", "data": {"agent": "a", "confidence": c}},
              st.one_of(st.floats(min_value=1.01, max_value=1e6), st.text(max_size=3))),
    st.builds(lambda p: {"kind": "portfolio", "data": {"value": 1.0, "positions": p}}, st.one_of(
        st.text(max_size=3), st.lists(st.fixed_dictionaries({"symbol": st.just("X")}), min_size=1, max_size=2))),
    st.builds(lambda s: {"kind": "latency", "data": {"exchange": "binance", "seconds": s}},
              st.floats(max_value=-0.001)),
    st.builds(lambda k: {"kind": k, "data": {}}, st.text(max_size=10).filter(lambda k: k not in ("heartbeat",))),
    junk)


def columnar(good: int, bad: list[tuple[str, object]]) -> tuple[str, dict, int, int]:
    """A columnar ``trades`` record (what the trader's client sends) with some bad rows mixed in."""
    from graphwiz_monitoring.metrics.codec import TRADE_FIELDS, fast_trade, to_columns

    rows = [fast_trade({**good_trade(), "timestamp": 1.7e9}) for _ in range(good + len(bad))]
    if not bad:
        return "columns", {"kind": "trades", "data": to_columns(rows)}, good, 0  # packed, as the client sends
    columns = {f: [r[f] for r in rows] for f in TRADE_FIELDS}
    for row, (name, value) in enumerate(bad, start=good):
        columns[name][row] = value
    return "columns", {"kind": "trades", "data": columns}, good, len(bad)


columnar_records = st.builds(columnar, st.integers(0, 6), st.lists(st.sampled_from(
    [("price", -1.0), ("side", "hold"), ("quantity", math.nan), ("timestamp", "yesterday"), ("symbol", None)]),
    max_size=3))
batches = st.lists(st.one_of(st.builds(lambda: ("good", {"kind": "trade", "data": good_trade()}, 1, 0)),
                             st.builds(lambda r: ("bad", r, 0, 1), bad_record), columnar_records),
                   min_size=1, max_size=12)



def nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


MALFORMED = ["not a batch", 42, None, [1, 2, 3], {"records": []}, {"batch_id": 7, "records": []},
             {"batch_id": "ok-id", "records": {"a": 1}}, {"batch_id": "deep", "records": [{"kind": "trade",
                                                                                          "data": nested(20)}]},
             {"batch_id": "too-many", "records": [{"kind": "x"}] * 10_001}]


@pytest.fixture
def env(redis_url, celery_processes):
    worker = celery_processes("worker", "-Q", "ingest", "-c", "1", "--loglevel", "INFO", "--without-gossip",
                              "--without-mingle")
    app = create_app(parse_settings({"redis": {"url": redis_url}}, env={}))
    store, keys = Store(redis_url), KeySpace()
    yield worker, app, store, keys
    store.close()


def _state(store, keys) -> tuple[int, int]:
    return int(store.r.hget(keys.trading_agg, "total_trades") or 0), int(store.r.llen(keys.dead_letters))


def _expect(store, keys, trades: int, letters: int) -> None:
    wait_until(lambda: _state(store, keys) == (trades, letters), timeout=30, interval=0.02,
               message=f"{trades} trades and {letters} dead letters, have {_state(store, keys)}")


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=batches)
def test_batches_keep_good_records_and_dead_letter_bad_ones(env, batch) -> None:
    worker, app, store, keys = env
    trades, letters = _state(store, keys)
    good = sum(g for _, _, g, _ in batch)
    bad = sum(b for _, _, _, b in batch)
    batch_id = f"p-{next(_ids)}"
    app.send_task("workers.ingest.ingest_batch", args=({"batch_id": batch_id, "records": [r for _, r, _, _ in batch]},),
                  retry=False)
    _expect(store, keys, trades + good, letters + bad)
    if bad:
        for entry in list_dead_letters(store, keys, limit=bad):
            assert entry["reason"] and entry["kind"] in {"trade", "prediction", "portfolio", "latency", "unknown"}
            assert len(json.dumps(entry["payload"])) < 20_000
    assert worker.alive()


def test_malformed_payloads_and_direct_trade_tasks(env) -> None:
    worker, app, store, keys = env
    for n, payload in enumerate(MALFORMED, start=1):
        app.send_task("workers.ingest.ingest_batch", args=(payload,), retry=False)
        _expect(store, keys, 0, n)
    app.send_task("workers.ingest.ingest_batch", args=(), kwargs={"wrong": 1, "arity": 2}, retry=False)
    _expect(store, keys, 0, len(MALFORMED) + 1)
    # Nested far deeper than real data: Celery's own guard (celery/factory.py) may refuse it before the task runs;
    # either way the worker survives and takes the next batch.
    app.send_task("workers.ingest.ingest_batch", args=({"batch_id": "very-deep", "records": [nested(300)]},),
                  retry=False)
    app.send_task("workers.ingest.ingest_batch", args=({"batch_id": "after-deep", "records": [
        {"kind": "trade", "data": {**good_trade(), "trade_id": "sentinel"}}]},), retry=False)
    wait_until(lambda: _state(store, keys)[0] == 1, timeout=30, message="the batch after the deep one")
    store.r.hset(keys.trading_agg, "total_trades", 0)  # back to the bookkeeping below
    deep_letters = _state(store, keys)[1] - (len(MALFORMED) + 1)
    assert deep_letters in (0, 1)
    while store.r.llen(keys.dead_letters) > len(MALFORMED) + 1:
        store.r.lpop(keys.dead_letters)
    reasons = [e["reason"] for e in list_dead_letters(store, keys, limit=100)]
    assert any("batch must be a dict" in r for r in reasons)
    assert any("too many records" in r for r in reasons)
    assert any("records must be a list" in r for r in reasons)

    letters = len(MALFORMED) + 1
    app.send_task("workers.ingest.record_trade", args=(good_trade(),), retry=False)
    app.send_task("workers.ingest.record_trade", args=({"symbol": "BTC/USDT", "side": "buy", "price": -1,
                                                        "quantity": 1},), retry=False)
    app.send_task("workers.ingest.record_trades", args=([good_trade(), good_trade(), {"price": "x"}],),
                  retry=False)
    app.send_task("workers.ingest.record_trades", args=("not a list",), retry=False)
    _expect(store, keys, 3, letters + 3)
    assert worker.alive()
    assert "WorkerLostError" not in worker.output() and "Unrecoverable error" not in worker.output()
