"""Turn the records of one batch into what ``ingest.lua`` reads, sorting out the bad ones.

Trades come as single records (``{"kind": "trade", "data": {...}}``) or, from the trader's client,
as one columnar record per batch (``{"kind": "trades", "data": {field: [values]}}``, number columns
packed as ``{"f64": base64 doubles}``, see codec.py). Both take the
fast path of codec.py when their values are already normalized and fall back to the pydantic model
per trade otherwise, so one bad trade in a columnar record rejects that trade only (its location is
``"<record>.<row>"``). Other kinds always go through their pydantic model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from graphwiz_monitoring.metrics import calculations as calc
from graphwiz_monitoring.metrics.codec import (
    FastPathMiss,
    column_rows,
    fast_columns,
    fast_trade,
    pack_columns,
    pack_trade,
    unpack_columns,
)
from graphwiz_monitoring.metrics.models import (
    ExchangeStatus,
    Heartbeat,
    Latency,
    Portfolio,
    Prediction,
    SystemSample,
    Trade,
    describe_errors,
)

MODELS: dict[str, Any] = {"prediction": Prediction, "latency": Latency, "exchange_status": ExchangeStatus,
                          "portfolio": Portfolio, "system": SystemSample, "heartbeat": Heartbeat}
KINDS = frozenset({"trade", "trades", *MODELS})
MAX_ROWS = 10_000

Location = int | str


@dataclass
class Rejected:
    location: Location
    kind: str  # dead-letter kind: a record kind, or "unknown"
    payload: Any
    reason: str


@dataclass
class Prepared:
    blob: bytes = b""  # packed trades (codec)
    compact: list[Any] = field(default_factory=list)  # other records, ingest.lua's compact form
    exchanges: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    systems: list[SystemSample] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    _rows: dict[int, tuple[Location, dict[str, Any]]] = field(default_factory=dict)
    _ranges: list[tuple[int, int, int, dict[str, list[Any]]]] = field(default_factory=list)

    def trade_at(self, seq: int) -> tuple[Location, dict[str, Any]]:
        """Location and data of the trade packed with number ``seq`` (for a rejection from Lua)."""
        if seq in self._rows:
            return self._rows[seq]
        for first, n, index, columns in self._ranges:
            if first <= seq < first + n:
                j = seq - first
                return f"{index}.{j}", {f: col[j] for f, col in columns.items()}
        return seq, {}


def _trade(data: Any) -> dict[str, Any] | str:
    """The normalized trade, or the reason it is invalid."""
    try:
        return fast_trade(data)
    except FastPathMiss:
        pass
    if not isinstance(data, dict):
        return f"invalid trade: data must be a dict, got {type(data).__name__}"
    try:
        return Trade.model_validate(data).wire()
    except PydanticValidationError as exc:
        return "invalid trade: " + "; ".join(describe_errors(exc))


def _label(kind: Any) -> str:
    return kind if isinstance(kind, str) and kind in KINDS else "unknown"


def prepare(records: list[Any]) -> Prepared:
    """Validate every record and pack the good ones (record order is kept for trades)."""
    out = Prepared()
    exchanges: dict[str, int] = {}
    agents: dict[str, int] = {}
    parts: list[bytes] = []

    def ex(name: str | None) -> int:
        if name is None:
            return 0
        number = exchanges.get(name)
        if number is None:
            number = exchanges[name] = len(exchanges) + 1
        return number

    def add_row(location: Location, data: Any) -> None:
        trade = _trade(data)
        if isinstance(trade, str):
            out.rejected.append(Rejected(location, "trade", data, trade))
            return
        seq = len(out._rows) + sum(r[1] for r in out._ranges)
        out._rows[seq] = (location, trade)
        parts.append(pack_trade(seq, ex(trade["exchange"]), trade))

    for i, raw in enumerate(records):
        if raw.__class__ is not dict:
            out.rejected.append(Rejected(i, "unknown", raw, "record must be a dict with kind and data, "
                                                            f"got {type(raw).__name__}"))
            continue
        kind, data = raw.get("kind"), raw.get("data")
        label = _label(kind)  # untrusted kind as a known name (str), or "unknown"
        if label == "trade":
            add_row(i, data)
        elif label == "trades":
            data = unpack_columns(data)
            if data is None:
                out.rejected.append(Rejected(i, "trades", raw, "invalid trades: data must be a dict of columns; "
                                                               'packed numbers must be {"f64": base64 doubles}'))
                continue
            try:
                n = fast_columns(data)
            except FastPathMiss:
                rows = column_rows(data, MAX_ROWS)
                if rows is None:
                    out.rejected.append(Rejected(i, "trades", raw, "invalid trades: data must map trade fields "
                                                                   f"to lists of equal length (at most {MAX_ROWS})"))
                for j, row in enumerate(rows or ()):
                    add_row(f"{i}.{j}", row)
                continue
            first = len(out._rows) + sum(r[1] for r in out._ranges)
            out._ranges.append((first, n, i, data))
            parts.append(pack_columns(data, first, [ex(name) for name in data["exchange"]]))
        elif label == "unknown":
            text = repr(kind)[:40]
            out.rejected.append(Rejected(i, "unknown", raw, f"unknown record kind {text}; known: {sorted(KINDS)}"))
        elif not isinstance(data, dict):
            out.rejected.append(Rejected(i, label, raw, f"invalid {label}: data must be a dict, "
                                                        f"got {type(data).__name__}"))
        else:
            try:
                record = MODELS[label].model_validate(data)
            except PydanticValidationError as exc:
                out.rejected.append(Rejected(i, label, raw, f"invalid {label}: " + "; ".join(describe_errors(exc))))
                continue
            _compact(out, i, label, record, ex, agents)
    out.blob = b"".join(parts)
    out.exchanges, out.agents = list(exchanges), list(agents)
    return out


def _compact(out: Prepared, i: int, kind: str, d: Any, ex: Any, agents: dict[str, int]) -> None:
    if kind == "latency":
        out.compact.append(("l", i, ex(d.exchange), d.seconds, 1 if d.error else 0, d.timestamp))
    elif kind == "exchange_status":
        limit = d.rate_limit_remaining
        out.compact.append(("s", i, ex(d.exchange), 1 if d.connected else 0, False if limit is None else limit,
                            d.timestamp))
    elif kind == "prediction":
        a = agents.setdefault(d.agent, len(agents) + 1)
        correct = calc.prediction_correct(d.prediction, d.actual_outcome)
        out.compact.append(("p", i, a, d.wire(), 0 if correct is None else 1, 1 if correct else 0,
                            1 if d.failed else 0))
    elif kind == "portfolio":
        out.compact.append(("f", i, d.timestamp, d.value, False if d.cash is None else d.cash, d.positions_value,
                            d.exposure, len(d.positions), d.wire()))
    elif kind == "heartbeat":
        out.compact.append(("h", i, d.timestamp, d.wire()))
    elif kind == "system":
        out.systems.append(d)
