"""Worker-side ingestion: validate a batch, write it with ONE Lua script, dead-letter what is bad.

A batch is ``{"batch_id": str, "trader": str (optional), "records": [{"kind": ..., "data": {...}}, ...]}``;
``trader`` is the sender's identity (``trader.name``, else its host name): its portfolio, heartbeat and
trade aggregates are kept per identity beside the totals (a batch without one counts as
``UNNAMED_TRADER``; beyond ``retention.max_traders`` identities a new one's trades count in the totals
only and its portfolio records are refused). Each record is
validated on its own: bad ones go to the dead-letter list with the reason (before the write, so a
crash in between repeats the dead letter rather than losing it) and good ones are kept. A payload
that is not a batch at all (not a dict, wrong types, too many records) is dead-lettered whole and
never raises. Redelivery is harmless: ``ingest.lua`` ignores a batch id or trade id it has seen.

Validation and packing are in prepare.py (trades take the fast path of codec.py: a bulk check, then
binary records unpacked by Lua's ``struct``, so the per-trade work stays near 2 µs in Python and a
few µs in Redis).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.events import EventType, TradeEvent, make_event
from graphwiz_monitoring.metrics import calculations as calc
from graphwiz_monitoring.metrics.codec import STREAM_FIELD
from graphwiz_monitoring.metrics.models import ID_PATTERN
from graphwiz_monitoring.metrics.prepare import Prepared, Rejected, prepare
from graphwiz_monitoring.metrics.system import write_host_sample
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.state.dead_letters import add_dead_letter

# Record kinds the fast rule path reads (alerting/fast_path.py).
FAST_KINDS = frozenset({"trade", "latency", "exchange_status", "portfolio", "prediction"})
MAX_BATCH_RECORDS = 10_000  # the trader sends ≤ trader.batch_max_records (1000); more is not ours
MAX_BATCH_BYTES = 32 * 2**20
DEAD_LETTER_PREVIEW_DEPTH = 6


UNNAMED_TRADER = "unnamed"  # the identity of batches that carry none (tasks sent by a plain Celery app)
TRADER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$"  # as config's trader.name
_TRADER = TypeAdapter(Annotated[str, Field(strict=True, pattern=TRADER_PATTERN)])
_BATCH_ID = TypeAdapter(Annotated[str, Field(strict=True, pattern=ID_PATTERN)])


@dataclass
class IngestResult:
    batch_id: str | None
    duplicate: bool = False
    accepted: dict[str, int] = field(default_factory=dict)  # kind -> records written
    # (location, reason): a record index, "record.row" inside a columnar trades record, -1 = whole payload
    rejected: list[tuple[int | str, str]] = field(default_factory=list)
    new_trades: int = 0
    duplicate_trades: int = 0
    successful: int = 0
    failed: int = 0
    pnl: float = 0.0

    @property
    def kinds(self) -> set[str]:
        return {k for k, n in self.accepted.items() if n}

    def summary(self) -> TradeEvent:
        return {"batch_id": self.batch_id, "duplicate": self.duplicate, "accepted": self.accepted,
                "rejected": len(self.rejected), "trades": self.new_trades,
                "duplicate_trades": self.duplicate_trades, "successful": self.successful,
                "failed": self.failed, "pnl_usd": self.pnl}


def preview(value: Any, depth: int = DEAD_LETTER_PREVIEW_DEPTH, items: int = 50, text: int = 500) -> Any:
    """A bounded copy of an untrusted payload for the dead-letter list (depth, length and size capped)."""
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, str):
        return value if len(value) <= text else value[:text] + f"...(+{len(value) - text} chars)"
    if depth <= 0:
        return f"<{type(value).__name__} nested too deep>"
    if isinstance(value, Mapping):
        out = {str(k)[:100]: preview(v, depth - 1, items, text) for k, v in list(value.items())[:items]}
        if len(value) > items:
            out["..."] = f"{len(value) - items} more keys"
        return out
    if isinstance(value, (list, tuple)):
        out_list = [preview(v, depth - 1, items, text) for v in value[:items]]
        if len(value) > items:
            out_list.append(f"... {len(value) - items} more items")
        return out_list
    return repr(value)[:text]


def _reject_payload(store: Store, keys: KeySpace, settings: Settings, payload: Any, reason: str,
                    batch_id: str | None = None) -> IngestResult:
    add_dead_letter(store, keys, "ingest_batch", preview(payload), reason, settings.retention.dead_letters_max)
    store.r.hincrby(keys.ingest_stats, "rejected:batch", 1)
    return IngestResult(batch_id=batch_id, rejected=[(-1, reason)])


def script_keys(keys: KeySpace, exchanges: list[str], agents: list[str], trader: str = UNNAMED_TRADER) -> list[str]:
    fixed = [keys.batches_seen, keys.trade_ids, keys.trades, keys.trading_agg, keys.pnl_daily, keys.trade_pnls,
             keys.exchanges, keys.agents, keys.portfolio_latest, keys.portfolio_snapshots, keys.ingest_stats,
             keys.trader_heartbeat, keys.traders, keys.trader_portfolio(trader), keys.trader_agg(trader),
             keys.trader_heartbeat_of(trader), keys.trader_exchanges(trader)]
    for name in exchanges:
        fixed += [keys.exchange_stats(name), keys.exchange_latency(name), keys.exchange_window(name)]
    for name in agents:
        fixed += [keys.agent_stats(name), keys.agent_predictions(name), keys.agent_failures(name)]
    return fixed


def ingest_batch(store: Store, keys: KeySpace, settings: Settings, batch: Any) -> IngestResult:
    """Validate and write one batch; never raises for bad input (StateError when Redis is down).

    ``batch`` is the dict, or its JSON text (what the trader's client sends: a string argument is
    decoded in the pool process instead of Celery's main process, and costs nothing to pickle).
    """
    if isinstance(batch, (str, bytes)):
        if len(batch) > MAX_BATCH_BYTES:
            return _reject_payload(store, keys, settings, batch, f"batch text too large: {len(batch)} bytes "
                                                                 f"> {MAX_BATCH_BYTES}")
        try:
            batch = json.loads(batch)
        except (ValueError, RecursionError) as exc:
            return _reject_payload(store, keys, settings, batch, f"batch text is not JSON: {type(exc).__name__}")
    if not isinstance(batch, Mapping):
        return _reject_payload(store, keys, settings, batch, f"batch must be a dict, got {type(batch).__name__}")
    batch_id, records = batch.get("batch_id"), batch.get("records")
    try:
        _BATCH_ID.validate_python(batch_id)
    except PydanticValidationError:
        return _reject_payload(store, keys, settings, batch,
                               f"batch_id must be text matching {ID_PATTERN}, got {preview(batch_id, text=80)!r}")
    trader = batch.get("trader", UNNAMED_TRADER)
    try:
        _TRADER.validate_python(trader)
    except PydanticValidationError:
        return _reject_payload(store, keys, settings, batch,
                               f"trader must be text matching {TRADER_PATTERN}, got {preview(trader, text=80)!r}",
                               batch_id)
    if not isinstance(records, list):
        return _reject_payload(store, keys, settings, batch,
                               f"records must be a list, got {type(records).__name__}", batch_id)
    if len(records) > MAX_BATCH_RECORDS:
        return _reject_payload(store, keys, settings, batch,
                               f"too many records: {len(records)} > {MAX_BATCH_RECORDS}", batch_id)

    prepared = prepare(records)
    if prepared.rejected and store.r.zscore(keys.batches_seen, batch_id) is None:
        _dead_letter(store, keys, settings, prepared.rejected)
    ret = settings.retention
    capital = settings.monitoring.initial_capital_usd
    header = {
        "batch_id": batch_id, "now": time.time(), "stream_max": ret.trades_max_count, "stream_field": STREAM_FIELD,
        "ids_max": ret.trades_max_count, "batches_max": ret.trades_max_count,
        "pnl_max": ret.trade_pnl_samples, "latency_max": ret.latency_samples_per_exchange,
        "predictions_max": ret.predictions_per_agent, "capital": False if capital is None else capital,
        "snapshot_interval": ret.snapshot_interval_seconds, "buckets": list(calc.LATENCY_BUCKETS_SECONDS),
        "max_exchanges": ret.max_exchanges, "max_agents": ret.max_agents,
        "trader": trader, "max_traders": ret.max_traders,
        "exchanges": prepared.exchanges, "agents": prepared.agents,
    }
    out = run_ingest_script(store, keys, prepared, header)
    result = IngestResult(batch_id=batch_id, rejected=[(r.location, r.reason) for r in prepared.rejected])
    if out.get("duplicate"):
        result.duplicate = True
        return result
    result.accepted = dict(out.get("accepted") or {})
    result.new_trades = int(out.get("new_trades", 0))
    result.duplicate_trades = int(out.get("duplicate_trades", 0))
    result.successful, result.failed = int(out.get("successful", 0)), int(out.get("failed", 0))
    result.pnl = float(out.get("pnl", 0.0))
    if result.new_trades:
        result.accepted["trade"] = result.new_trades
    late = [_late(prepared, records, entry) for entry in (out.get("rejected") or [])]
    if late:
        _dead_letter(store, keys, settings, late)
        result.rejected.extend((r.location, r.reason) for r in late)
    for sample in prepared.systems:
        write_host_sample(store, keys, sample, ret.host_stale_seconds)
    if prepared.systems:
        store.r.hincrby(keys.ingest_stats, "records:system", len(prepared.systems))
        result.accepted["system"] = len(prepared.systems)
    return result


def run_ingest_script(store: Store, keys: KeySpace, prepared: Prepared, header: dict[str, Any]) -> dict[str, Any]:
    """``ingest.lua``: write one prepared batch atomically (idempotent by batch id and trade id)."""
    raw = store.run_script("ingest", script_keys(keys, prepared.exchanges, prepared.agents,
                                                   str(header.get("trader", UNNAMED_TRADER))),
                           [json.dumps(header), prepared.blob, json.dumps(prepared.compact, separators=(",", ":"))],
                           durable=True)  # the batch's mark and counts: the task is acknowledged after this
    return dict(json.loads(raw))


def _late(prepared: Prepared, records: list[Any], entry: list[Any]) -> Rejected:
    """A record ingest.lua refused (cardinality bounds), with its location and payload."""
    what, number, reason = entry[0], int(entry[1]), str(entry[2])
    if what == "t":
        location, data = prepared.trade_at(number)
        return Rejected(location, "trade", data, reason)
    raw = records[number]
    return Rejected(number, str(raw.get("kind")), raw, reason)


def _dead_letter(store: Store, keys: KeySpace, settings: Settings, rejected: list[Rejected]) -> None:
    counts: dict[str, int] = {}
    for r in rejected:
        add_dead_letter(store, keys, r.kind, preview(r.payload), r.reason, settings.retention.dead_letters_max)
        counts[r.kind] = counts.get(r.kind, 0) + 1
    pipe = store.r.pipeline(transaction=False)
    for kind, n in counts.items():
        pipe.hincrby(keys.ingest_stats, f"rejected:{kind}", n)
    pipe.execute()


def ingest_records(store: Store, keys: KeySpace, settings: Settings, batch_id: str, kind: str,
                   items: Any) -> IngestResult:
    """Direct task payloads (record_trade / record_trades): wrap plain dicts as records of ``kind``."""
    if not isinstance(items, list):
        return _reject_payload(store, keys, settings, items, f"{kind}s must be a list, got {type(items).__name__}",
                               batch_id)
    return ingest_batch(store, keys, settings,
                        {"batch_id": batch_id, "records": [{"kind": kind, "data": item} for item in items]})


def announce(store: Store, keys: KeySpace, result: IngestResult) -> bool:
    """Realtime events for a batch that changed data (one round trip); True when the fast rule path
    should run (the batch carried data the fast rules read). Best effort: the data is stored either way."""
    if result.duplicate or not result.kinds:
        return False
    try:
        pipe = store.r.pipeline(transaction=False)
        if result.new_trades:
            pipe.publish(keys.events, json.dumps(make_event(EventType.TRADE, result.summary())))
        pipe.publish(keys.events, json.dumps(make_event(EventType.METRICS, {
            "source": "ingest", "batch_id": result.batch_id, "accepted": result.accepted})))
        pipe.execute()
    except StateError:
        pass
    return bool(result.kinds & FAST_KINDS)


def call_payload(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
    """The one payload argument of an ingest task, or the whole malformed call (dead-lettered with its reason)."""
    if len(args) == 1 and not kwargs:
        return args[0]
    if not args and list(kwargs) == [name]:
        return kwargs[name]
    return {"malformed_call": {"args": list(args), "kwargs": kwargs}}
