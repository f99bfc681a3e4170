"""Age-based trimming of the metric history (the beat task ``workers.metrics.trim_history``).

Count bounds are enforced at write time (stream MAXLEN, LTRIM, dedup sets in ingest.lua); this removes
what is older than the configured retention, so idle periods do not keep stale data forever.
"""

from __future__ import annotations

import json
import time

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.metrics import calculations as calc
from graphwiz_monitoring.metrics.snapshot import WINDOW_BUCKET_SECONDS
from graphwiz_monitoring.state import KeySpace, Store


def trim_history(store: Store, keys: KeySpace, settings: Settings, now: float | None = None) -> dict[str, int]:
    """Drop history older than retention; returns how many entries each kind lost."""
    now = time.time() if now is None else now
    ret = settings.retention
    trade_cutoff = now - ret.trades_max_age_hours * 3600
    exchanges = sorted(store.r.smembers(keys.exchanges))
    agents = sorted(store.r.smembers(keys.agents))
    oldest_day = calc.utc_day(now) - ret.daily_pnl_days + 1
    old_days = [day for day in store.r.hkeys(keys.pnl_daily) if not day.lstrip("-").isdigit() or int(day) < oldest_day]

    pipe = store.r.pipeline(transaction=False)
    pipe.xtrim(keys.trades, minid=f"{int(trade_cutoff * 1000)}-0", approximate=False)
    pipe.zremrangebyscore(keys.trade_ids, "-inf", trade_cutoff)
    pipe.zremrangebyscore(keys.batches_seen, "-inf", trade_cutoff)
    pipe.zremrangebyscore(keys.portfolio_snapshots, "-inf", now - ret.snapshots_max_age_hours * 3600)
    pipe.zremrangebyscore(keys.hosts, "-inf", now - ret.host_stale_seconds)
    if old_days:
        pipe.hdel(keys.pnl_daily, *old_days)
    for name in agents:
        pipe.zremrangebyscore(keys.agent_failures(name), "-inf", now - ret.agent_failure_window_seconds)
    for name in exchanges:
        pipe.hkeys(keys.exchange_window(name))
    results = pipe.execute()
    removed = {"trades": int(results[0]), "trade_ids": int(results[1]), "batches": int(results[2]),
               "portfolio_snapshots": int(results[3]), "hosts": int(results[4]), "pnl_days": len(old_days)}

    first_minute = int((now - ret.rate_window_seconds) // WINDOW_BUCKET_SECONDS)
    pipe = store.r.pipeline(transaction=False)
    stale_fields = 0
    for name, fields in zip(exchanges, results[len(results) - len(exchanges):], strict=True):
        stale = [f for f in fields if not f.partition(":")[0].isdigit() or int(f.partition(":")[0]) < first_minute]
        if stale:
            pipe.hdel(keys.exchange_window(name), *stale)
            stale_fields += len(stale)
    pipe.execute()
    removed["window_fields"] = stale_fields
    removed["traders"] = len(forget_silent_traders(store, keys, now - ret.trader_forget_seconds))
    return removed


def forget_silent_traders(store: Store, keys: KeySpace, cutoff: float) -> list[str]:
    """``forget_traders.lua``: drop the traders whose last report is older than ``cutoff`` (their portfolio
    leaves the summed one, their per-trader keys go); returns their names."""
    names = sorted(store.r.smembers(keys.traders))
    if not names:
        return []
    per = [k for name in names for k in (keys.trader_portfolio(name), keys.trader_agg(name),
                                          keys.trader_heartbeat_of(name), keys.trader_exchanges(name))]
    raw = store.run_script("forget_traders", [keys.traders, keys.portfolio_latest, *per], [repr(cutoff), *names])
    return [str(n) for n in json.loads(raw)]
