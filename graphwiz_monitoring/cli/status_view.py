"""`graphwiz-monitoring status`: one terminal summary of the whole system, 80 columns wide.

Trading first (P&L today and in total, drawdown, positions, paused or not), then active alerts, health
checks, circuit breakers, the pipeline's own liveness (which beat schedules, the last rule evaluation
and heartbeat ping, Redis memory), Celery queue lengths and live consumers, dead letters and the
notification outbox. Every section is read on its own (see realtime/sources.py): a section whose
area is not available, or that Redis fails to answer, prints why instead of taking the others down.

Rendered with rich (tables that fit a width, cells cut with an ellipsis, never wrapped mid-word):
hand-made padding broke rows in two on an 80-column terminal.
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from graphwiz_monitoring.alerting.outbox import backlog
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.metrics.pipeline import read_section
from graphwiz_monitoring.realtime.sources import collect_snapshot
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.state.dead_letters import dead_letter_count
from graphwiz_monitoring.tasks import queue_lengths

DEFAULT_WIDTH = 80  # what the output fits when it does not go to a terminal (pipes, files, tests)
MAX_WIDTH = 120  # a wider terminal gets longer messages, not a sprawl
QUEUE_COLUMNS = 3  # queue name/length pairs per line


def gather_status(store: Store, keys: KeySpace, settings: Settings) -> dict[str, Any]:
    """Everything the summary shows, as plain data (also what ``status --json`` prints)."""
    data = collect_snapshot(store, keys, settings, ("metrics", "health", "breakers", "alerts", "trading"))
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

def render_status(data: dict[str, Any], width: int = DEFAULT_WIDTH, color: bool = False) -> str:
    """The summary as text no wider than ``width``: trading first, then one titled block per section."""
    unavailable: dict[str, str] = data.get("unavailable") or {}
    console = Console(file=io.StringIO(), width=width, force_terminal=color, no_color=not color,
                      color_system="standard" if color else None, highlight=False, emoji=False)
    console.print(Text(f"graphwiz-monitoring status at {_time(data.get('generated_at'))} UTC", style="bold"),
                  no_wrap=True, overflow="ellipsis")
    blocks: list[tuple[str, str | None, RenderableType | None]] = [
        ("Trading", _first_missing(unavailable, "trading", "metrics"),
         _trading(data.get("trading"), data.get("metrics"), width)),
    ]
    alerts = [a for a in (data.get("alerts") or []) if isinstance(a, dict)]
    blocks.append((f"Active alerts ({len(alerts)})" if alerts else "Active alerts", unavailable.get("alerts"),
                   _alerts(alerts, width)))
    health = data.get("health")
    overall = health.get("status") if isinstance(health, dict) else None
    blocks.append((f"Health checks (overall: {overall})" if overall else "Health checks", unavailable.get("health"),
                   _health(health, width)))
    blocks.append(("Circuit breakers", unavailable.get("breakers"), _breakers(data.get("breakers"), width)))
    pipeline = data.get("pipeline")
    if pipeline is not None or "pipeline" in unavailable:
        blocks.append(("Pipeline", unavailable.get("pipeline"), _pipeline(pipeline, width)))
    consumers = {q: v.get("consumers") for q, v in ((pipeline or {}).get("queues") or {}).items()}
    blocks.append(("Queues (messages waiting / live consumers)" if consumers else "Queues (messages waiting)",
                   unavailable.get("queues"), _queues(data.get("queues"), consumers, width)))
    blocks.append(("Delivery", _first_missing(unavailable, "dead_letters", "notify_outbox"),
                   _delivery(data.get("dead_letters"), data.get("notify_outbox"), width)))
    for title, missing, body in blocks:
        console.print()
        console.print(Text(title, style="bold"), no_wrap=True, overflow="ellipsis")
        if missing:
            console.print(Text(f"  unavailable: {missing}"), no_wrap=True, overflow="ellipsis")
        elif body is None:
            console.print("  (none)")
        else:
            console.print(body)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _first_missing(unavailable: dict[str, str], *sections: str) -> str | None:
    return next((unavailable[s] for s in sections if unavailable.get(s)), None)


GAP = 2  # spaces between columns
INDENT = 2


NAME_MAX_CHARS = 22  # a column of names (rules, checks) is cut here before a message column gives up width
FLEXIBLE_MIN_CHARS = 16


def fit_widths(natural: list[int], available: int, flexible: int | None) -> list[int]:
    """Column widths within ``available`` (gaps included). Too wide: other columns are first cut to
    ``NAME_MAX_CHARS``, then the ``flexible`` column (a message) gives up width down to
    ``FLEXIBLE_MIN_CHARS``, then the widest column loses one character at a time (down to 4)."""
    widths = list(natural)

    def excess() -> int:
        return sum(widths) + GAP * (len(widths) - 1) - available

    if excess() > 0 and flexible is not None:
        widths = [w if i == flexible else min(w, NAME_MAX_CHARS) for i, w in enumerate(widths)]
        if excess() > 0:
            widths[flexible] = max(min(FLEXIBLE_MIN_CHARS, widths[flexible]), widths[flexible] - excess())
    while excess() > 0:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= 4:
            break
        widths[widest] -= 1
    return widths


def table(columns: list[str], rows: list[list[str | Text]], width: int, *, flexible: str | None = None,
          header: bool = True) -> RenderableType:
    """Rows under upper-case headers, indented, no wider than ``width``: every cell on one line, cut with
    "…" when its column is too narrow (never wrapped mid-word)."""
    natural = [max([len(c) if header else 0] + [len(Text(str(r[i])) if isinstance(r[i], str) else r[i])
                                                 for r in rows]) for i, c in enumerate(columns)]
    widths = fit_widths(natural, width - INDENT, columns.index(flexible) if flexible else None)
    # With a header the box draws a one-space column divider: the padding makes up the rest of the gap.
    grid = Table(box=box.SIMPLE_HEAD if header else None, show_edge=False, pad_edge=False, show_header=header,
                 padding=(0, GAP - 1 if header else GAP, 0, 0), header_style="bold", expand=False)
    for name, w in zip(columns, widths, strict=True):
        grid.add_column(name.upper(), width=w, no_wrap=True, overflow="ellipsis")
    for row in rows:
        grid.add_row(*row)
    return Padding(grid, (0, 0, 0, INDENT))


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else " ".join(str(value).split())  # a newline must not break a row


def _time(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value) if value else "-"


def _clock(value: Any, seconds: bool = True) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC).strftime("%H:%M:%S" if seconds else "%H:%M")
    return "-"


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _usd(value: Any, signed: bool = True) -> str:
    v = _num(value)
    if v is None:
        return "-"
    return f"{'+' if signed and v > 0 else '-' if v < 0 else ''}${abs(v):,.2f}"


def _pct(value: Any) -> str:
    v = _num(value)
    return "-" if v is None else f"{v * 100:.2f}%"


def _money_style(value: Any) -> str:
    v = _num(value)
    return "green" if v is not None and v > 0 else "red" if v is not None and v < 0 else ""


def _named(value: Any, nested: str) -> dict[str, Any]:
    """``{name: item}`` from a mapping, a mapping under ``nested``, or a list of items with ``name``."""
    if isinstance(value, dict) and isinstance(value.get(nested), (dict, list)):
        value = value[nested]
    if isinstance(value, list):
        return {str(item.get("name")): item for item in value if isinstance(item, dict)}
    return {str(k): v for k, v in value.items() if isinstance(v, dict)} if isinstance(value, dict) else {}


def _trading(trading: Any, metrics: Any, width: int) -> RenderableType | None:
    """Paused or active on the first line, then P&L, drawdown, positions in label/value pairs."""
    if trading is None and not metrics:
        return None
    paused = trading if isinstance(trading, bool) else bool((trading or {}).get("paused"))
    reason = "" if isinstance(trading, bool) else _cell((trading or {}).get("reason") or "")
    if trading is None:
        state = Text("unknown")
    elif paused:
        state = Text("PAUSED" + (f" ({reason})" if reason and reason != "-" else ""), style="bold red")
    else:
        state = Text("active", style="green")
    m = metrics if isinstance(metrics, dict) else {}
    t, r, p = m.get("trading") or {}, m.get("risk") or {}, m.get("portfolio") or {}
    positions, leverage, trades = _num(r.get("position_count")), _num(r.get("leverage")), _num(t.get("total_trades"))
    pairs = table(["", "", "", ""], [
        ["P&L today", Text(_usd(t.get("pnl_daily_usd")), style=_money_style(t.get("pnl_daily_usd"))),
         "P&L total", Text(_usd(t.get("pnl_usd")), style=_money_style(t.get("pnl_usd")))],
        ["Drawdown", f"{_pct(t.get('current_drawdown'))} (max {_pct(t.get('max_drawdown'))})",
         "Positions", "-" if positions is None else f"{int(positions)}"],
        ["Portfolio", _usd(p.get("value_usd"), signed=False),
         "Leverage", "-" if leverage is None else f"{leverage:.2f}x"],
        ["Win rate", _pct(t.get("win_rate")), "Trades", "-" if trades is None else f"{int(trades):,}"],
    ], width, header=False)
    first = Table.grid(padding=(0, GAP, 0, 0))
    first.add_column(no_wrap=True, min_width=len("P&L today"))  # aligned with the labels below
    first.add_column(no_wrap=True, overflow="ellipsis", max_width=max(8, width - INDENT - len("P&L today") - GAP))
    first.add_row("State", state)
    return Group(Padding(first, (0, 0, 0, INDENT)), pairs)


SEVERITY_STYLES = {"EMERGENCY": "bold magenta", "CRITICAL": "bold red", "WARNING": "yellow", "INFO": "cyan"}
STATUS_STYLES = {"healthy": "green", "closed": "green", "degraded": "yellow", "half_open": "yellow",
                 "unhealthy": "red", "critical": "bold red", "open": "red", "circuit_open": "red"}


def _alerts(alerts: list[dict[str, Any]], width: int) -> RenderableType | None:
    """One line per alert; an acknowledged one gets a second line under its title saying who and when."""
    if not alerts:
        return None
    rows: list[list[str | Text]] = []
    for a in alerts:
        severity = str(a.get("severity", "")).upper()
        rows.append([Text(severity, style=SEVERITY_STYLES.get(severity, "")), _cell(a.get("rule_name")),
                     _cell(a.get("title")), _clock(a.get("created_at"), seconds=False)])
        if a.get("acknowledged_by"):
            rows.append(["", "", Text(f"acknowledged by {_cell(a.get('acknowledged_by'))} at "
                                      f"{_clock(a.get('acknowledged_at'), seconds=False)}", style="green"), ""])
    return table(["severity", "rule", "title", "since"], rows, width, flexible="title")


def _health(health: Any, width: int) -> RenderableType | None:
    checks = sorted(_named(health, "checks").items())
    if not checks:
        return None
    rows: list[list[str | Text]] = []
    for name, r in checks:
        status = str(r.get("status") or "not run").replace("_", " ")
        message = _cell(r.get("message")).removeprefix(f"{status}: ")  # "not configured: ..." says it twice
        rows.append([name, Text(status, style=STATUS_STYLES.get(str(r.get("status")), "")), message,
                     _clock(r.get("timestamp"), seconds=False)])
    return table(["check", "status", "message", "checked"], rows, width, flexible="message")


def _breakers(breakers: Any, width: int) -> RenderableType | None:
    items = sorted(_named(breakers, "breakers").items())
    if not items:
        return None
    rows: list[list[str | Text]] = [[name, Text(str(b.get("state") or "-"), style=STATUS_STYLES.get(str(b.get("state")), "")),
                                     _cell(b.get("failures"))] for name, b in items]
    return table(["breaker", "state", "failures"], rows, width)


def _queues(queues: Any, consumers: dict[str, Any], width: int) -> RenderableType | None:
    """Name/length pairs (length / live consumers when known), ``QUEUE_COLUMNS`` per line (a dozen queues would
    take a dozen lines as a table)."""
    if not queues:
        return None
    pairs = [(str(q), f"{n} / {consumers[q]}" if consumers.get(q) is not None else str(n)) for q, n in queues.items()]
    rows: list[list[str | Text]] = []
    for i in range(0, len(pairs), QUEUE_COLUMNS):
        chunk = pairs[i:i + QUEUE_COLUMNS] + [("", "")] * (QUEUE_COLUMNS - len(pairs[i:i + QUEUE_COLUMNS]))
        rows.append([Text(cell, justify="right") if k % 2 else cell for k, cell in
                     enumerate(c for pair in chunk for c in pair)])
    return table([""] * (2 * QUEUE_COLUMNS), rows, width, header=False)


def _delivery(dead: Any, outbox: Any, width: int) -> RenderableType | None:
    if dead is None and not outbox:
        return None
    rows: list[list[str | Text]] = []
    if dead is not None:
        rows.append(["dead letters", str(dead)])
    if outbox:
        # Entries normally leave within milliseconds; ones older than alerting.outbox.GRACE_SECONDS wait for a sweep.
        rows.append(["notification outbox", f"{outbox['entries']} waiting, oldest {outbox['oldest_age_seconds']:g} s"])
    return table(["", ""], rows, width, header=False)


def _ago(seconds: Any, what: str) -> str:
    return f"{what} {seconds:.1f} s ago" if isinstance(seconds, (int, float)) else f"never {what}"


def _pipeline(pipeline: Any, width: int) -> RenderableType | None:
    """The watcher's own liveness (metrics/pipeline.py): which beat schedules, rules, the dead-man's switch, Redis."""
    if not isinstance(pipeline, dict):
        return None
    holder = pipeline.get("beat_holder")
    memory = pipeline.get("redis_memory_percent")
    used = pipeline.get("redis_used_memory_bytes")
    rows: list[list[str | Text]] = [
        ["beat", _ago(pipeline.get("beat_age_seconds"), "ticked") + (f" ({holder})" if holder else "")],
        ["rules", _ago(pipeline.get("rules_age_seconds"), "evaluated")],
        ["heartbeat", _ago(pipeline.get("heartbeat_age_seconds"), "pinged")],
        ["redis memory", f"{memory:.0f} % of maxmemory" if isinstance(memory, (int, float))
         else f"{(used or 0) / 2**20:.1f} MiB, no maxmemory"],
    ]
    return table(["", ""], rows, width, header=False)
