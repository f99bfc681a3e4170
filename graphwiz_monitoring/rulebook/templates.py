"""Alert title/message templates: ``{field}`` placeholders checked when the rule is loaded.

A template may only name known fields (the catalogue below, the rule's labels and the labels its
wildcards bind). Attribute or index access (``{x.__class__}``, ``{x[0]}``), positional fields (``{}``)
and nested fields in format specs are refused with ``RuleError`` at load time. Rendering never raises:
a missing value prints ``n/a`` and a format spec that does not suit the value falls back to ``str``.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from graphwiz_monitoring.errors import RuleError

MISSING_TEXT = "n/a"
MAX_TEMPLATE_CHARS = 4000
# Width/precision in a format spec ("{x:>9999999}") could build huge strings at render time.
MAX_SPEC_NUMBER = 100

# Always available: about the rule and the alert itself.
ALERT_FIELDS = frozenset({"rule", "severity", "threshold", "value", "time", "fingerprint"})
# Labels a wildcard can bind (see expressions.LABEL_NAMES).
WILDCARD_LABELS = frozenset({"exchange", "host", "mount", "agent", "trader", "queue"})

# Flat names for snapshot values: field -> (section, key). Per-exchange/agent/host fields follow.
SNAPSHOT_FIELDS: dict[str, tuple[str, str]] = {
    **{k: ("system", k) for k in ("cpu_percent", "memory_percent", "disk_percent")},
    **{k: ("trading", k) for k in ("total_trades", "successful_trades", "failed_trades", "pnl_usd",
                                   "pnl_daily_usd", "win_rate", "sharpe_ratio", "max_drawdown",
                                   "current_drawdown")},
    **{k: ("risk", k) for k in ("var_95_usd", "var_99_usd", "exposure_usd", "leverage", "correlation_avg",
                                "position_count")},
    **{k: ("portfolio", k) for k in ("value_usd", "cash_usd", "positions_value_usd", "returns_1h",
                                     "returns_24h", "returns_7d")},
    "neo4j_connected": ("neo4j", "connected"),
    "trader_age_seconds": ("trader", "age_seconds"),
    **{k: ("monitoring", k) for k in ("beat_age_seconds", "rules_age_seconds", "heartbeat_age_seconds",
                                      "notify_dead_lettered_age_seconds", "redis_memory_percent",
                                      "redis_used_memory_bytes", "redis_maxmemory_bytes")},
}
EXCHANGE_FIELDS = ("connected", "p50_latency", "p95_latency", "p99_latency", "fill_rate", "error_rate",
                   "rate_limit_remaining")
AGENT_FIELDS = ("accuracy", "confidence", "predictions", "failures")
HOST_FIELDS = ("cpu_percent", "memory_percent", "load1", "memory_used_bytes", "memory_available_bytes")
# Ratios 0..1 also offered as percentages, e.g. "Drawdown at {drawdown_percent:.1f}%".
PERCENT_FIELDS = {"drawdown_percent": "current_drawdown", "max_drawdown_percent": "max_drawdown",
                  "win_rate_percent": "win_rate", "error_rate_percent": "error_rate",
                  "fill_rate_percent": "fill_rate"}

KNOWN_FIELDS = frozenset(ALERT_FIELDS | set(SNAPSHOT_FIELDS) | set(EXCHANGE_FIELDS) | set(AGENT_FIELDS)
                         | set(HOST_FIELDS) | set(PERCENT_FIELDS))

_FORMATTER = string.Formatter()


class Template:
    """A validated template; ``fields`` are the names it uses."""

    def __init__(self, text: str, allowed: Iterable[str], *, where: str = "template") -> None:
        if not isinstance(text, str):
            raise RuleError(f"{where}: must be text, got {type(text).__name__}")
        if len(text) > MAX_TEMPLATE_CHARS:
            raise RuleError(f"{where}: longer than {MAX_TEMPLATE_CHARS} characters")
        allowed = frozenset(allowed)
        try:
            parts = list(_FORMATTER.parse(text))
        except ValueError as exc:
            raise RuleError(f"{where}: {exc} in {text!r}") from None
        self.text = text
        self._parts: list[tuple[str, str | None, str, str | None]] = []
        for literal, name, spec, conversion in parts:
            if name is not None:
                _check_field(name, spec or "", conversion, allowed, where)
            self._parts.append((literal, name, spec or "", conversion))
        self.fields = frozenset(p[1] for p in self._parts if p[1] is not None)

    def render(self, values: Mapping[str, Any]) -> str:
        """Fill in the placeholders; never raises."""
        out: list[str] = []
        for literal, name, spec, conversion in self._parts:
            out.append(literal)
            if name is not None:
                out.append(_format(values.get(name), spec, conversion))
        return "".join(out)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"


def _check_field(name: str, spec: str, conversion: str | None, allowed: frozenset[str], where: str) -> None:
    if name == "" or name.isdigit():
        raise RuleError(f"{where}: positional placeholder {{{name}}} is not allowed; name a field")
    if "." in name or "[" in name:
        raise RuleError(f"{where}: attribute/index access {{{name}}} is not allowed")
    if not name.isidentifier() or name.startswith("_"):
        raise RuleError(f"{where}: invalid field name {{{name}}}")
    if name not in allowed:
        raise RuleError(f"{where}: unknown field {{{name}}}; known fields: {', '.join(sorted(allowed))}")
    if conversion not in (None, "s", "r"):
        raise RuleError(f"{where}: unknown conversion !{conversion} in {{{name}}}")
    if "{" in spec or "}" in spec:
        raise RuleError(f"{where}: nested fields in the format spec of {{{name}}} are not allowed")
    if any(int(n) > MAX_SPEC_NUMBER for n in re.findall(r"\d+", spec)):
        raise RuleError(f"{where}: width/precision above {MAX_SPEC_NUMBER} in {{{name}:{spec}}}")


def _format(value: Any, spec: str, conversion: str | None) -> str:
    if value is None:
        return MISSING_TEXT
    try:
        if conversion == "r":
            value = repr(value)
        elif conversion == "s":
            value = str(value)
        return format(value, spec)
    except (ValueError, TypeError):
        return str(value)


def field_values(snapshot: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    """Flat template values from a snapshot, narrowed to the exchange/agent/host/mount in ``labels``."""
    values: dict[str, Any] = {name: _get(snapshot, section, key) for name, (section, key) in SNAPSHOT_FIELDS.items()}
    exchange = _section(_section(snapshot, "exchanges"), labels.get("exchange"))
    values.update({k: exchange.get(k) for k in EXCHANGE_FIELDS})
    agent = _section(_section(snapshot, "agents"), labels.get("agent"))
    values.update({k: agent.get(k) for k in AGENT_FIELDS})
    host = _section(_section(_section(snapshot, "system"), "hosts"), labels.get("host"))
    if host:
        values.update({k: host.get(k) for k in HOST_FIELDS})
        if labels.get("mount") is not None:
            values["disk_percent"] = _section(host, "disks").get(labels["mount"])
    for name, ratio in PERCENT_FIELDS.items():
        raw = values.get(ratio)
        values[name] = raw * 100 if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
    values.update(labels)
    values.setdefault("time", datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="seconds"))
    return values


def _section(data: Any, key: Any) -> Mapping[str, Any]:
    value = data.get(key) if isinstance(data, Mapping) and key is not None else None
    return value if isinstance(value, Mapping) else {}


def _get(snapshot: Mapping[str, Any], section: str, key: str) -> Any:
    return _section(snapshot, section).get(key)
