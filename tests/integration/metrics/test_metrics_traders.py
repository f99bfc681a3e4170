"""Several traders on one deployment (issue 13 item 7): per-identity portfolio, heartbeat and trade
aggregates beside unchanged totals; the number of identities is bounded (retention.max_traders)."""

from __future__ import annotations

import pytest

from graphwiz_monitoring.metrics import ingest
from graphwiz_monitoring.metrics.snapshot import build_snapshot
from graphwiz_monitoring.state.dead_letters import list_dead_letters

T0 = 1_700_000_000.0


def trade(tid: str, pnl: float, success: bool = True) -> dict:
    return {"kind": "trade", "data": {"symbol": "BTC/USDT", "side": "buy", "price": 100.0, "quantity": 1.0,
                                      "pnl": pnl, "success": success, "trade_id": tid, "timestamp": T0}}


def portfolio(value: float, cash: float | None, ts: float, positions: list | None = None) -> dict:
    data: dict = {"value": value, "timestamp": ts, "positions": positions or []}
    if cash is not None:
        data["cash"] = cash
    return {"kind": "portfolio", "data": data}


def heartbeat(host: str, pid: int, ts: float) -> dict:
    return {"kind": "heartbeat", "data": {"host": host, "pid": pid, "timestamp": ts,
                                          "client": {"pending_records": pid % 7}}}


def send(store, keys, settings, batch_id: str, trader: str | None, records: list):
    batch: dict = {"batch_id": batch_id, "records": records}
    if trader is not None:
        batch["trader"] = trader
    return ingest.ingest_batch(store, keys, settings, batch)


def test_two_traders_keep_two_portfolios_and_the_total_is_their_sum(store, keys, settings) -> None:
    send(store, keys, settings, "a1", "alpha", [trade("a-1", 10.0), trade("a-2", -3.0), portfolio(1000, 400, T0),
                                                 heartbeat("h1", 11, T0)])
    send(store, keys, settings, "b1", "beta", [trade("b-1", 5.0, success=False), portfolio(250, 50, T0 + 1),
                                                heartbeat("h2", 22, T0 + 1)])
    # alpha's newer portfolio replaces alpha's share only; an older one of beta changes nothing
    send(store, keys, settings, "a2", "alpha", [portfolio(1200, 300, T0 + 2)])
    send(store, keys, settings, "b0", "beta", [portfolio(9999, 9999, T0 - 100)])
    snap = build_snapshot(store, keys, settings)
    traders = snap["traders"]
    assert set(traders) == {"alpha", "beta"}
    assert traders["alpha"]["portfolio"]["value_usd"] == 1200 and traders["alpha"]["portfolio"]["cash_usd"] == 300
    assert traders["beta"]["portfolio"]["value_usd"] == 250 and traders["beta"]["portfolio"]["cash_usd"] == 50
    assert snap["portfolio"]["value_usd"] == pytest.approx(1450)
    assert snap["portfolio"]["cash_usd"] == pytest.approx(350)
    assert traders["alpha"]["trading"]["total_trades"] == 2 and traders["alpha"]["trading"]["pnl_usd"] == 7.0
    assert traders["beta"]["trading"]["total_trades"] == 1 and traders["beta"]["trading"]["failed_trades"] == 1
    assert traders["beta"]["trading"]["pnl_usd"] == 5.0
    # the totals are what they always were
    assert snap["trading"]["total_trades"] == 3 and snap["trading"]["pnl_usd"] == 12.0
    assert snap["trading"]["failed_trades"] == 1
    assert (traders["alpha"]["host"], traders["alpha"]["pid"]) == ("h1", 11)
    assert (traders["beta"]["host"], traders["beta"]["pid"], traders["beta"]["last_seen"]) == ("h2", 22, T0 + 1)
    assert traders["beta"]["client"]["pending_records"] == 22 % 7
    assert snap["trader"]["pid"] == 22  # the unlabelled "last trader" view is unchanged


def test_a_trader_without_cash_leaves_the_others_cash_in_the_total(store, keys, settings) -> None:
    send(store, keys, settings, "a", "alpha", [portfolio(100, None, T0)])
    assert build_snapshot(store, keys, settings)["portfolio"]["cash_usd"] is None
    send(store, keys, settings, "b", "beta", [portfolio(300, 30, T0)])
    send(store, keys, settings, "c", "alpha", [portfolio(150, 15, T0 + 1)])
    send(store, keys, settings, "d", "beta", [portfolio(200, None, T0 + 2)])
    snap = build_snapshot(store, keys, settings)
    assert snap["portfolio"]["value_usd"] == pytest.approx(350) and snap["portfolio"]["cash_usd"] == pytest.approx(15)


def test_a_batch_without_identity_counts_as_unnamed(store, keys, settings) -> None:
    send(store, keys, settings, "x", None, [trade("x-1", 1.0), portfolio(10, 10, T0)])
    snap = build_snapshot(store, keys, settings)
    assert set(snap["traders"]) == {ingest.UNNAMED_TRADER}
    assert snap["portfolio"]["value_usd"] == 10


def test_a_bad_identity_rejects_the_batch_with_the_field_named(store, keys, settings) -> None:
    result = send(store, keys, settings, "x", "no spaces:or colons", [trade("x-1", 1.0)])
    assert result.new_trades == 0 and "trader must be text matching" in result.rejected[0][1]
    assert "'no spaces:or colons'" in list_dead_letters(store, keys)[0]["reason"]


def test_the_number_of_traders_is_bounded(store, keys, make_settings) -> None:
    settings = make_settings(retention={"max_traders": 2})
    for name in ("t1", "t2", "t3"):
        send(store, keys, settings, f"b-{name}", name, [trade(f"{name}-x", 2.0), portfolio(100, 1, T0)])
    assert store.r.smembers(keys.traders) == {"t1", "t2"}
    snap = build_snapshot(store, keys, settings)
    assert set(snap["traders"]) == {"t1", "t2"}
    assert snap["trading"]["total_trades"] == 3  # the third trader's trades count in the totals
    assert snap["portfolio"]["value_usd"] == 200  # its portfolio is refused, and says why
    assert list_dead_letters(store, keys)[0]["reason"] == "too many traders (retention.max_traders)"
    assert store.r.hget(keys.ingest_stats, "unattributed:trade") == "1"


def test_a_total_written_before_per_trader_portfolios_starts_over(store, keys, settings) -> None:
    store.r.hset(keys.portfolio_latest, mapping={"value": "5000", "timestamp": str(T0 - 10), "cash": "5"})
    send(store, keys, settings, "a", "alpha", [portfolio(100, 1, T0)])
    snap = build_snapshot(store, keys, settings)
    assert snap["portfolio"]["value_usd"] == 100 and snap["portfolio"]["cash_usd"] == 1


def status(exchange: str, connected: bool, ts: float) -> dict:
    return {"kind": "exchange_status", "data": {"exchange": exchange, "connected": connected, "timestamp": ts}}


def test_each_trader_keeps_its_own_view_of_an_exchange(store, keys, settings) -> None:
    send(store, keys, settings, "a", "alpha", [status("kraken", False, T0)])
    send(store, keys, settings, "b", "beta", [status("kraken", True, T0 + 1), status("binance", True, T0 + 1)])
    send(store, keys, settings, "c", "alpha", [status("kraken", True, T0 - 5)])  # older: changes nothing
    snap = build_snapshot(store, keys, settings)
    assert snap["traders"]["alpha"]["exchanges"] == {"kraken": {"connected": False}}
    assert snap["traders"]["beta"]["exchanges"] == {"binance": {"connected": True}, "kraken": {"connected": True}}
    assert snap["exchanges"]["kraken"]["connected"] is True  # the unlabelled view: the newest report, as before


def test_a_silent_trader_is_forgotten_and_leaves_the_total(store, keys, make_settings) -> None:
    from graphwiz_monitoring.metrics.retention import trim_history

    settings = make_settings(retention={"trader_forget_seconds": 3600})
    send(store, keys, settings, "a", "alpha", [portfolio(1000, 100, T0), heartbeat("h1", 1, T0)])
    send(store, keys, settings, "b", "beta", [portfolio(500, 50, T0 + 7200), heartbeat("h2", 2, T0 + 7200)])
    assert build_snapshot(store, keys, settings)["portfolio"]["value_usd"] == 1500
    assert trim_history(store, keys, settings, now=T0 + 7200)["traders"] == 1
    snap = build_snapshot(store, keys, settings)
    assert set(snap["traders"]) == {"beta"}
    assert snap["portfolio"]["value_usd"] == 500 and snap["portfolio"]["cash_usd"] == 50
    assert not store.r.exists(keys.trader_portfolio("alpha"), keys.trader_heartbeat_of("alpha"))
    # it comes back as a new identity when it reports again
    send(store, keys, settings, "c", "alpha", [portfolio(10, None, T0 + 7300)])
    assert build_snapshot(store, keys, settings)["portfolio"]["value_usd"] == 510
