"""Typed records the trader reports: Trade, Prediction, Latency, ExchangeStatus, Portfolio, SystemSample.

Validation is pydantic with strict numbers (int, float, Decimal; never bool or text), finite values
only and sanity bounds, so a bad value is refused at the ``record_*`` call with a ``ValidationError``
naming the field and the value. The same models validate task payloads on the worker side, so a trader
enqueueing tasks itself gets the same checks. Unknown keys are ignored.

Names that become Redis key parts and Prometheus labels (exchange, agent, strategy, host) are limited
to ``NAME_PATTERN``. Timestamps are epoch seconds (a ``datetime`` or ISO-8601 text is converted; a value
that looks like milliseconds is refused). Ids are a per-process random prefix plus a counter: unique
without a uuid4 per call (that alone would cost more than the rest of ``record_trade``).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from graphwiz_monitoring.errors import ValidationError

NAME_PATTERN = r"^[A-Za-z0-9_.@+/\- ]{1,64}$"
SYMBOL_PATTERN = r"^[A-Za-z0-9_.:@+/\-]{1,64}$"
ID_PATTERN = r"^[A-Za-z0-9_.:@+\-]{1,128}$"
MAX_USD = 1e15  # sanity bound: anything larger is a unit error, and keeps sums finite
MAX_PRICE = 1e12
MAX_QUANTITY = 1e12
MAX_SECONDS = 86_400.0  # a latency/execution time above a day is a unit error
MAX_EPOCH_SECONDS = 1e11  # above this the caller sent milliseconds (year 5138)
MAX_POSITIONS = 1000
MAX_TEXT_CHARS = 500
MAX_MAP_ENTRIES = 64

# ------------------------------------------------------------------ ids


def _fresh_prefix() -> str:
    return os.urandom(5).hex() + "-"


_id_prefix = _fresh_prefix()
_id_counter = itertools.count()


def _reseed() -> None:  # a forked child must not repeat its parent's ids
    global _id_prefix, _id_counter
    _id_prefix = _fresh_prefix()
    _id_counter = itertools.count()


os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    """A process-unique id: random prefix + hex counter (about 0.2 µs)."""
    return f"{_id_prefix}{next(_id_counter):x}"


# ------------------------------------------------------------------ field types


def _epoch(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be epoch seconds, a datetime or ISO-8601 text") from None
        return _epoch(parsed)
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _short_text(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return None if value is None else str(value)
    return str(value)[:MAX_TEXT_CHARS]


Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Usd = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_USD, le=MAX_USD)]
Epoch = Annotated[float, BeforeValidator(_epoch), Field(strict=True, allow_inf_nan=False, gt=0, lt=MAX_EPOCH_SECONDS)]
Seconds = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=MAX_SECONDS)]
Name = Annotated[str, Field(strict=True, pattern=NAME_PATTERN)]
Symbol = Annotated[str, Field(strict=True, pattern=SYMBOL_PATTERN)]
RecordId = Annotated[str, Field(strict=True, pattern=ID_PATTERN)]
Text = Annotated[str | None, BeforeValidator(_short_text)]
Fraction = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1)]
Percent = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=100)]
Bytes = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1e20)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)

    def wire(self) -> dict[str, Any]:
        """The record as plain JSON-ready data (field values are already primitives)."""
        return dict(self.__dict__)


# ------------------------------------------------------------------ records


class Trade(_Record):
    """One executed (or failed) order. ``pnl`` is the realized P&L in USD, when the trade closed one."""

    symbol: Symbol
    side: Annotated[Literal["buy", "sell"], BeforeValidator(_lower)]
    price: Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=MAX_PRICE)]
    quantity: Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=MAX_QUANTITY)]
    pnl: Usd | None = None
    success: Annotated[bool, Field(strict=True)] = True
    trade_id: RecordId = Field(default_factory=new_id)
    timestamp: Epoch = Field(default_factory=time.time)
    exchange: Name | None = None
    strategy: Name | None = None
    fee: Usd | None = None
    execution_time: Seconds | None = None


class Prediction(_Record):
    """One agent prediction; scored when ``actual_outcome`` is known, a failure when success is False or error is set."""

    agent: Name
    prediction: Number | Annotated[str, Field(strict=True, max_length=64)] | None = None
    confidence: Fraction | None = None
    symbol: Symbol | None = None
    actual_outcome: Number | Annotated[str, Field(strict=True, max_length=64)] | None = None
    success: Annotated[bool, Field(strict=True)] | None = None
    error: Text = None
    prediction_id: RecordId = Field(default_factory=new_id)
    timestamp: Epoch = Field(default_factory=time.time)

    @property
    def failed(self) -> bool:
        return self.success is False or self.error is not None


class Latency(_Record):
    """Round-trip time of one exchange API call; ``error`` marks a call that failed."""

    exchange: Name
    seconds: Seconds
    error: Annotated[bool, Field(strict=True)] = False
    timestamp: Epoch = Field(default_factory=time.time)


class ExchangeStatus(_Record):
    exchange: Name
    connected: Annotated[bool, Field(strict=True)]
    rate_limit_remaining: Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1e9)] | None = None
    timestamp: Epoch = Field(default_factory=time.time)


class Position(_Record):
    """A holding; ``quantity`` is signed (negative = short), ``value`` = quantity x price when not given."""

    symbol: Symbol
    quantity: Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_QUANTITY, le=MAX_QUANTITY)] = Field(
        0.0, validation_alias=AliasChoices("quantity", "amount", "size"))
    price: Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=MAX_PRICE)] | None = Field(
        None, validation_alias=AliasChoices("price", "current_price", "mark_price"))
    value: Usd | None = Field(None, validation_alias=AliasChoices("value", "market_value", "value_usd", "notional"))

    @model_validator(mode="after")
    def _value(self) -> Position:
        if self.value is None:
            if self.price is None:
                raise ValueError("a position needs value or price")
            object.__setattr__(self, "value", self.quantity * self.price)
        return self


def _positions(value: Any) -> Any:
    """Accept a list of positions or a mapping symbol -> position (or symbol -> value)."""
    if isinstance(value, dict):
        out = []
        for symbol, pos in value.items():
            out.append({"symbol": symbol, **pos} if isinstance(pos, dict) else {"symbol": symbol, "value": pos})
        return out
    return value


class Portfolio(_Record):
    """A portfolio snapshot; ``value`` = cash + positions when not given."""

    value: Usd | None = Field(None, validation_alias=AliasChoices("value", "total_value", "portfolio_value",
                                                                  "value_usd", "equity"))
    cash: Usd | None = Field(None, validation_alias=AliasChoices("cash", "cash_balance", "cash_usd"))
    positions: Annotated[list[Position], BeforeValidator(_positions), Field(max_length=MAX_POSITIONS)] = []
    timestamp: Epoch = Field(default_factory=time.time)

    @model_validator(mode="after")
    def _total(self) -> Portfolio:
        if self.value is None:
            if self.cash is None and not self.positions:
                raise ValueError("a portfolio needs value, cash or positions")
            object.__setattr__(self, "value", (self.cash or 0.0) + self.positions_value)
        return self

    @property
    def positions_value(self) -> float:
        return math.fsum(p.value or 0.0 for p in self.positions)

    @property
    def exposure(self) -> float:
        return math.fsum(abs(p.value or 0.0) for p in self.positions)

    def wire(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["positions"] = [p.wire() for p in self.positions]
        return data


class NetCounters(_Record):
    sent: Bytes
    recv: Bytes


class SystemSample(_Record):
    """Resource usage of one host (a worker host or the trader's host)."""

    host: Name
    cpu_percent: Percent | None = None
    memory_percent: Percent | None = None
    memory_used_bytes: Bytes | None = None
    memory_available_bytes: Bytes | None = None
    memory_total_bytes: Bytes | None = None
    load1: Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1e6)] | None = None
    disks: Annotated[dict[Annotated[str, Field(max_length=256)], Percent], Field(max_length=MAX_MAP_ENTRIES)] = {}
    network: Annotated[dict[Annotated[str, Field(max_length=64)], NetCounters], Field(max_length=MAX_MAP_ENTRIES)] = {}
    timestamp: Epoch = Field(default_factory=time.time)

    def wire(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["network"] = {k: v.wire() for k, v in self.network.items()}
        return data


Scalar = str | float | int | bool | None
Count = Annotated[int, Field(strict=True, ge=0)]


class ClientStats(_Record):
    """The trader client's delivery state (trader/shipper.py); counters are cumulative per process."""

    journal_bytes: Count = 0
    journal_max_bytes: Count = 0
    refused: Count = 0  # records refused with BackpressureError
    resent_batches: Count = 0  # batches sent again because the broker lost them
    send_failures: Count = 0
    pending_records: Count = 0  # held in memory (buffer + outbox)


class Heartbeat(_Record):
    """The trader is alive; ``info`` carries small status fields (pid, dependency states, ...), ``client``
    the shipping client's own state."""

    host: Name
    pid: Annotated[int, Field(strict=True, ge=0)] = 0
    timestamp: Epoch = Field(default_factory=time.time)
    info: Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[Scalar, BeforeValidator(
        lambda v: v[:MAX_TEXT_CHARS] if isinstance(v, str) else v)]], Field(max_length=MAX_MAP_ENTRIES)] = {}
    client: ClientStats | None = None

    def wire(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["client"] = self.client.wire() if self.client is not None else None
        return data


RECORD_MODELS: dict[str, type[_Record]] = {
    "trade": Trade,
    "prediction": Prediction,
    "latency": Latency,
    "exchange_status": ExchangeStatus,
    "portfolio": Portfolio,
    "system": SystemSample,
    "heartbeat": Heartbeat,
}


# ------------------------------------------------------------------ errors


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_errors(exc: PydanticValidationError) -> list[str]:
    """One line per problem: ``field: message, got value`` (field path dotted)."""
    lines = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"] if not isinstance(p, str) or not p.startswith("function-"))
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            lines.append(f"{path}: required field is missing")
        elif path:
            lines.append(f"{path}: {message}, got {_show(err.get('input'))}")
        else:
            lines.append(message)
    return lines


def invalid(kind: str, exc: PydanticValidationError) -> ValidationError:
    """Our ValidationError for a pydantic failure; ``.problems`` lists each field problem."""
    problems = describe_errors(exc)
    error = ValidationError(f"invalid {kind}: " + "; ".join(problems))
    error.problems = problems  # type: ignore[attr-defined]
    return error


def parse(kind: str, data: Any) -> _Record:
    """Validate ``data`` as a record of ``kind``; raises ValidationError naming field and value."""
    model = RECORD_MODELS.get(kind)
    if model is None:
        raise ValidationError(f"unknown record kind {kind!r}; known: {sorted(RECORD_MODELS)}")
    if not isinstance(data, dict):
        raise ValidationError(f"invalid {kind}: must be a dict, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise invalid(kind, exc) from None
