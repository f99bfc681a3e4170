"""What Celery events, and so Flower, show of a task's arguments: a short summary without secrets.

Celery copies ``argsrepr``/``kwargsrepr`` into the task-sent/received events that Flower displays
(default: the full ``repr`` of the arguments, up to 1 KiB each). Task arguments here carry ids and
records, never secrets, but an ingest batch is thousands of records: it is shown as its id and a
count per record kind. Anything else is shown with values under secret-looking keys masked, long
strings and lists shortened, and the whole text capped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from graphwiz_monitoring import tasks
from graphwiz_monitoring.config import MASK, SECRET_KEYS

MAX_REPR_CHARS = 256
MAX_STRING_CHARS = 64
MAX_LIST_ITEMS = 5
MAX_DEPTH = 3
_EXTRA_SECRET_KEYS = frozenset({"api_key", "apikey", "authorization", "credentials", "private_key", "passphrase"})


def _is_secret(key: Any) -> bool:
    name = str(key).lower()
    return name in SECRET_KEYS or name in _EXTRA_SECRET_KEYS or name.endswith(("_token", "_secret", "_password"))


def summarize(value: Any, depth: int = 0) -> Any:
    """A small, secret-free stand-in for ``value`` (mappings keep their keys, long lists become counts)."""
    if isinstance(value, Mapping):
        if depth >= MAX_DEPTH:
            return f"<{len(value)} keys>"
        return {str(k): MASK if _is_secret(k) else summarize(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_LIST_ITEMS or depth >= MAX_DEPTH:
            return f"<{len(value)} items>"
        return [summarize(v, depth + 1) for v in value]
    if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
        return value[:MAX_STRING_CHARS] + f"...<{len(value)} chars>"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return f"<{type(value).__name__}>"


def _batch_summary(batch: Any) -> Any:
    if not isinstance(batch, Mapping):
        return summarize(batch)
    records = batch.get("records")
    kinds: Counter[str] = Counter()
    if isinstance(records, list):
        kinds.update(str(r.get("kind")) if isinstance(r, Mapping) else "?" for r in records)
    return {"batch_id": summarize(batch.get("batch_id")),
            "records": len(records) if isinstance(records, list) else summarize(records),
            "kinds": dict(sorted(kinds.items()))}


def _trade_summary(trade: Any) -> Any:
    if not isinstance(trade, Mapping):
        return summarize(trade)
    return {k: summarize(trade[k]) for k in ("trade_id", "id", "symbol", "side", "exchange") if k in trade}


_BY_TASK = {
    tasks.INGEST_BATCH: _batch_summary,
    tasks.RECORD_TRADE: _trade_summary,
}


def _cap(text: str) -> str:
    return text if len(text) <= MAX_REPR_CHARS else text[:MAX_REPR_CHARS - 3] + "..."


def task_argsrepr(task_name: str, args: Any, kwargs: Any) -> tuple[str, str]:
    """``(argsrepr, kwargsrepr)`` for a task message: what Flower will show instead of the raw arguments."""
    one = _BY_TASK.get(task_name)
    if task_name == tasks.RECORD_TRADES:
        shown_args: Any = [f"<{len(a)} trades>" if isinstance(a, list) else summarize(a) for a in (args or ())]
    elif one is not None:
        shown_args = [one(a) for a in (args or ())]
    else:
        shown_args = [summarize(a) for a in (args or ())]
    shown_kwargs = {str(k): MASK if _is_secret(k) else (one(v) if one else summarize(v))
                    for k, v in dict(kwargs or {}).items()}
    return _cap(repr(tuple(shown_args))), _cap(repr(shown_kwargs))
