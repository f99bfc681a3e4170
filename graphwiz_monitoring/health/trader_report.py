"""The trader's report as stored in Redis: written by the trader (trader/reporter.py), read by workers.

One hash, ``KeySpace.trader_heartbeat``: ``last_seen``, ``host``, ``pid`` and ``info:neo4j_connected``
as the metrics snapshot reads them, the reporter's ``status_at``, ``started_at``, ``poll_interval`` and
JSON sections ``status:<section>``. Redis stamps ``received_at`` with its own time as the report arrives
(state/scripts/trader_report.lua), so freshness is Redis-now minus ``received_at`` whatever the trader's
clock says. Here, in the health area, because workers read it and the trader package may import health,
never the reverse.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphwiz_monitoring.state import KeySpace, Store

HEARTBEAT_TTL_SECONDS = 7 * 24 * 3600  # a dead trader stays visible (as stale) for a week
SCRIPT = "trader_report"
RECEIVED_AT_FIELD = "received_at"  # Redis time when the last report arrived (written by SCRIPT only)
NEO4J_FLAG_FIELD = "info:neo4j_connected"  # what metrics/snapshot.py reads for snapshot["neo4j"]


def write_report(store: Store, keys: KeySpace, fields: Mapping[str, str], neo4j_flag: str) -> float:
    """Store one report atomically, stamped with the Redis time of its arrival (returned)."""
    pairs = [item for field, value in fields.items() for item in (field, value)]
    return float(store.run_script(SCRIPT, [keys.trader_heartbeat],
                                  [HEARTBEAT_TTL_SECONDS, NEO4J_FLAG_FIELD, neo4j_flag, *pairs]))


@dataclass(frozen=True)
class TraderReport:
    """The trader's last heartbeat as read by a worker; a section is None when that object was not given.

    ``age_seconds`` is on the Redis clock (now minus ``received_at``); ``last_seen`` is the trader's own
    clock, and ``clock_offset_seconds`` how far that was ahead of Redis's when the report arrived.
    """

    last_seen: float
    age_seconds: float
    stale: bool
    pid: int | None
    host: str
    exchanges: dict[str, Any] | None
    neo4j: dict[str, Any] | None
    agents: dict[str, Any] | None
    trading: dict[str, Any] | None
    received_at: float | None = None
    clock_offset_seconds: float | None = None

    def summary(self) -> dict[str, Any]:
        offset = None if self.clock_offset_seconds is None else round(self.clock_offset_seconds, 3)
        return {"last_seen": self.last_seen, "age_seconds": round(self.age_seconds, 3), "stale": self.stale,
                "pid": self.pid, "host": self.host, "received_at": self.received_at, "clock_offset_seconds": offset}


def read_trader_report(store: Store, keys: KeySpace, stale_after_seconds: float,
                       now: float | None = None) -> TraderReport | None:
    """The trader's last report, or None when no trader ever reported.

    ``now`` (tests) stands for the Redis time; by default it is read with the report, in one round trip.
    """
    pipe = store.r.pipeline(transaction=False)
    pipe.hgetall(keys.trader_heartbeat)
    pipe.time()
    raw, (seconds, micros) = pipe.execute()
    raw = raw or {}
    redis_now = int(seconds) + int(micros) / 1_000_000 if now is None else now
    try:
        last_seen = float(raw.get("status_at") or raw["last_seen"])
    except (KeyError, ValueError):
        return None
    received_at = _finite(raw.get(RECEIVED_AT_FIELD))
    # Without the stamp (heartbeats ingested from the trader's batches only) the trader's clock is all
    # there is; it is at least compared with Redis's, not with this host's.
    age = max(0.0, redis_now - (last_seen if received_at is None else received_at))

    def section(name: str) -> dict[str, Any] | None:
        try:
            value = json.loads(raw.get(f"status:{name}") or "null")
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    pid = raw.get("pid")
    status_at = _finite(raw.get("status_at"))
    offset = None if received_at is None or status_at is None else status_at - received_at
    return TraderReport(last_seen=last_seen, age_seconds=age, stale=age > stale_after_seconds,
                        pid=int(pid) if pid and pid.isdigit() else None, host=raw.get("host", ""),
                        exchanges=section("exchanges"), neo4j=section("neo4j"), agents=section("agents"),
                        trading=section("trading"), received_at=received_at, clock_offset_seconds=offset)


def _finite(value: str | None) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
