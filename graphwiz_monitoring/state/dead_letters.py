"""The dead-letter list: every payload a worker rejected or could not deliver, with its reason.

Nothing is dropped silently: a bad task payload, a trade that failed validation, a notification that
exhausted its retries all land here (bounded by ``retention.dead_letters_max``), newest first.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from graphwiz_monitoring.state.keys import KeySpace
from graphwiz_monitoring.state.store import Store

# Payloads are kept for diagnosis, but a huge one must not blow up Redis memory.
MAX_PAYLOAD_CHARS = 10_000


def add_dead_letter(store: Store, keys: KeySpace, kind: str, payload: Any, reason: str,
                    max_entries: int = 10_000) -> str:
    """Record one rejected item; returns its id. ``payload`` must already be free of secrets."""
    text = json.dumps(payload, default=repr)
    if len(text) > MAX_PAYLOAD_CHARS:
        text = json.dumps({"truncated": text[:MAX_PAYLOAD_CHARS]})
    entry_id = uuid.uuid4().hex
    entry = {"id": entry_id, "kind": kind, "reason": reason, "time": time.time(), "payload": json.loads(text)}
    pipe = store.r.pipeline(transaction=False)
    pipe.lpush(keys.dead_letters, json.dumps(entry))
    pipe.ltrim(keys.dead_letters, 0, max_entries - 1)
    pipe.execute()
    return entry_id


def list_dead_letters(store: Store, keys: KeySpace, limit: int = 100, kind: str | None = None) -> list[dict[str, Any]]:
    raw = store.r.lrange(keys.dead_letters, 0, max(0, limit - 1) if kind is None else -1)
    entries = [json.loads(item) for item in raw]
    if kind is not None:
        entries = [e for e in entries if e.get("kind") == kind][:limit]
    return entries


def remove_dead_letter(store: Store, keys: KeySpace, entry_id: str) -> dict[str, Any] | None:
    """Take one entry out (for a retry); None when it is not there."""
    for item in store.r.lrange(keys.dead_letters, 0, -1):
        entry = json.loads(item)
        if entry.get("id") == entry_id:
            store.r.lrem(keys.dead_letters, 1, item)
            return entry
    return None


def dead_letter_count(store: Store, keys: KeySpace) -> int:
    return int(store.r.llen(keys.dead_letters))
