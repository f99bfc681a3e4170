"""`graphwiz-monitoring status`: one terminal summary of the whole system, in plain tables.

Health checks, circuit breakers, active alerts, the pipeline's own liveness (which beat schedules,
the last rule evaluation and heartbeat ping, Redis memory), Celery queue lengths and live consumers,
dead letters, the notification outbox and whether trading is paused. Every section is read on its own (see realtime/sources.py): a
section whose area is not available, or that Redis fails to answer, prints why instead of taking the
others down.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from graphwiz_monitoring.alerting.outbox import backlog
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.metrics.pipeline import read_section
from graphwiz_monitoring.realtime.sources import collect_snapshot
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.state.dead_letters import dead_letter_count
from graphwiz_monitoring.tasks import queue_lengths

# Celery (kombu) stores a queue as a Redis list named after the queue, plus one list per priority
# step when messages carry a priority; the separator and steps are kombu's defaults.
MESSAGE_MAX_CHARS = 60


def gather_status(store: Store, keys: KeySpace, settings: Settings) -> dict[str, Any]:
    """Everything the summary shows, as plain data (also what ``status --json`` prints)."""
    data = collect_snapshot(store, keys, settings, ("health", "breakers", "alerts", "trading"))
    data["queues"], data["dead_letters"], data["notify_outbox"] = None, None, None
    try:
        data["queues"] = queue_lengths(store)
    except StateError as exc:
        data["unavailable"]["queues"] = f"Redis unavailable: {exc}"
    try:
        data["dead_letters"] = dead_letter_count(store, keys)
    except StateError as exc:
        data["unavailable"]["dead_letters"] = f"Redis unavailable: {exc}"
    try:
        entries, age = backlog(store, keys)
        data["notify_outbox"] = {"entries": entries, "oldest_age_seconds": round(age, 1)}
    except StateError as exc:
        data["unavailable"]["notify_outbox"] = f"Redis unavailable: {exc}"
    data["pipeline"] = None
    try:
        data["pipeline"] = read_section(store, keys)
    except StateError as exc:
        data["unavailable"]["pipeline"] = f"Redis unavailable: {exc}"
    data["generated_at"] = time.time()
    return data


# ------------------------------------------------------------------ rendering

def render_status(data: dict[str, Any]) -> str:
    """The summary as text: a header line, then one titled table per section."""
    unavailable: dict[str, str] = data.get("unavailable") or {}
    out = [f"graphwiz-monitoring status at {_time(data.get('generated_at'))} UTC", ""]
    out += _section("Trading", unavailable.get("trading"), _trading_rows(data.get("trading")), ["state", "detail"])
    health = data.get("health")
    overall = health.get("status") if isinstance(health, dict) else None
    out += _section(f"Health checks (overall: {overall})" if overall else "Health checks", unavailable.get("health"),
                    _health_rows(health), ["check", "status", "message", "checked"])
    out += _section("Circuit breakers", unavailable.get("breakers"), _breaker_rows(data.get("breakers")),
                    ["breaker", "state", "failures"])
    out += _section("Active alerts", unavailable.get("alerts"), _alert_rows(data.get("alerts")),
                    ["severity", "rule", "title", "since"])
    pipeline = data.get("pipeline")
    if pipeline is not None or "pipeline" in unavailable:
        out += _section("Pipeline", unavailable.get("pipeline"), _pipeline_rows(pipeline), ["part", "state"])
    queues = data.get("queues")
    consumers = {q: v.get("consumers") for q, v in ((pipeline or {}).get("queues") or {}).items()}
    queue_rows = [{"queue": q, "waiting": n, "consumers": consumers.get(q)} for q, n in (queues or {}).items()]
    out += _section("Queues", unavailable.get("queues"), queue_rows,
                    ["queue", "waiting", "consumers"] if consumers else ["queue", "waiting"])
    dead = data.get("dead_letters")
    out += _section("Dead letters", unavailable.get("dead_letters"),
                    [{"list": "dead letters", "entries": dead}] if dead is not None else [], ["list", "entries"])
    outbox = data.get("notify_outbox")
    # Entries normally leave within milliseconds; ones older than alerting.outbox.GRACE_SECONDS wait for a sweep.
    out += _section("Notification outbox", unavailable.get("notify_outbox"),
                    [{"entries": outbox["entries"], "oldest": f"{outbox['oldest_age_seconds']:g} s"}] if outbox else [],
                    ["entries", "oldest"])
    return "\n".join(out).rstrip() + "\n"


def _section(title: str, missing: str | None, rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    lines = [title]
    if missing:
        lines.append(f"  unavailable: {missing}")
    else:
        lines += table(rows, columns)
    return lines + [""]


def table(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    """Left-aligned columns under upper-case headers; ``(none)`` for no rows."""
    if not rows:
        return ["  (none)"]
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  " + "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return lines


def _cell(value: Any) -> str:
    text = "-" if value is None or value == "" else str(value)
    text = " ".join(text.split())  # a newline in a message must not break the table
    return text if len(text) <= MESSAGE_MAX_CHARS else text[:MESSAGE_MAX_CHARS - 1] + "…"


def _time(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return str(value) if value else "-"


def _named(value: Any, nested: str) -> dict[str, Any]:
    """``{name: item}`` from a mapping, a mapping under ``nested``, or a list of items with ``name``."""
    if isinstance(value, dict) and isinstance(value.get(nested), (dict, list)):
        value = value[nested]
    if isinstance(value, list):
        return {str(item.get("name")): item for item in value if isinstance(item, dict)}
    return {str(k): v for k, v in value.items() if isinstance(v, dict)} if isinstance(value, dict) else {}


def _trading_rows(trading: Any) -> list[dict[str, Any]]:
    if trading is None:
        return []
    paused = trading if isinstance(trading, bool) else bool(trading.get("paused"))
    detail = "" if isinstance(trading, bool) else trading.get("reason") or ""
    return [{"state": "PAUSED" if paused else "active", "detail": detail}]


def _health_rows(health: Any) -> list[dict[str, Any]]:
    return [{"check": name, "status": r.get("status") or "not run", "message": r.get("message"),
             "checked": _time(r.get("timestamp"))} for name, r in sorted(_named(health, "checks").items())]


def _breaker_rows(breakers: Any) -> list[dict[str, Any]]:
    return [{"breaker": name, "state": b.get("state"), "failures": b.get("failures")}
            for name, b in sorted(_named(breakers, "breakers").items())]


def _ago(seconds: Any, what: str) -> str:
    return f"{what} {seconds:.1f} s ago" if isinstance(seconds, (int, float)) else f"never {what}"


def _pipeline_rows(pipeline: Any) -> list[dict[str, Any]]:
    """The watcher's own liveness (metrics/pipeline.py): which beat schedules, rules, the dead-man's switch, Redis."""
    if not isinstance(pipeline, dict):
        return []
    holder = pipeline.get("beat_holder")
    memory = pipeline.get("redis_memory_percent")
    used = pipeline.get("redis_used_memory_bytes")
    return [
        {"part": "beat", "state": _ago(pipeline.get("beat_age_seconds"), "ticked") + (f" ({holder})" if holder else "")},
        {"part": "rules", "state": _ago(pipeline.get("rules_age_seconds"), "evaluated")},
        {"part": "heartbeat", "state": _ago(pipeline.get("heartbeat_age_seconds"), "pinged")},
        {"part": "redis memory", "state": (f"{memory:.0f} % of maxmemory" if isinstance(memory, (int, float))
                                           else f"{(used or 0) / 2**20:.1f} MiB, no maxmemory")},
    ]


def _alert_rows(alerts: Any) -> list[dict[str, Any]]:
    return [{"severity": str(a.get("severity", "")).upper(), "rule": a.get("rule_name"), "title": a.get("title"),
             "since": _time(a.get("created_at"))} for a in (alerts or []) if isinstance(a, dict)]
