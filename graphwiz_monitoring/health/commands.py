"""The control stream protocol between workers (and the CLI) and the trader.

A command is one entry of the Redis stream ``KeySpace.control_stream`` (``MAXLEN ~ 1000``) with the
fields ``id`` (the command id: the same id on redelivery), ``action``, ``check``, ``service``,
``targets`` (JSON list), ``params`` (JSON object) and ``ttl_ms``. A command whose age — measured on
the Redis clock through the entry id, so host clocks do not matter — exceeds ``ttl_ms`` when the
trader reads it is dropped: the sender has already recorded a timeout.

The trader answers by storing the outcome at ``control_result(id)`` (TTL 1 day) and pushing to
``control_ack(id)`` to wake the waiting sender. Outcome JSON: ``{"command_id", "action", "outcome":
"succeeded"|"failed", "reason", "details", "finished_at", "trader"}``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from graphwiz_monitoring.state import KeySpace, Store

STREAM_MAXLEN = 1000
RESULT_TTL_SECONDS = 24 * 3600
ACK_TTL_SECONDS = 600
ACK_POLL_SECONDS = 1.0  # each BLPOP waits at most this long (below the socket timeout)
SUCCEEDED, FAILED = "succeeded", "failed"
RESUME_TRADING = "resume_trading"  # CLI only; not a RecoveryAction


@dataclass
class Command:
    id: str
    action: str
    check: str = ""
    service: str | None = None
    targets: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    ttl_ms: int = 10_000
    entry_id: str = ""  # the stream entry id, set when read back

    def fields(self) -> dict[str, str]:
        return {"id": self.id, "action": self.action, "check": self.check, "service": self.service or "",
                "targets": json.dumps(self.targets), "params": json.dumps(self.params), "ttl_ms": str(self.ttl_ms)}

    @classmethod
    def from_entry(cls, entry_id: str, fields: dict[str, str]) -> Command:
        """Parse a stream entry; raises ValueError/KeyError on a malformed one."""
        targets = json.loads(fields.get("targets") or "[]")
        params = json.loads(fields.get("params") or "{}")
        if not isinstance(targets, list) or not isinstance(params, dict):
            raise ValueError("targets must be a list and params an object")
        return cls(id=fields["id"], action=fields["action"], check=fields.get("check", ""),
                   service=fields.get("service") or None, targets=[str(t) for t in targets], params=params,
                   ttl_ms=int(fields.get("ttl_ms") or 10_000), entry_id=entry_id)

    def age_ms(self, redis_now_ms: int) -> int:
        return redis_now_ms - int(self.entry_id.split("-", 1)[0])


def send_command(store: Store, keys: KeySpace, command: Command) -> str:
    """Append to the control stream; returns the entry id."""
    return store.r.xadd(keys.control_stream, command.fields(), maxlen=STREAM_MAXLEN, approximate=True)


def read_result(store: Store, keys: KeySpace, command_id: str) -> dict[str, Any] | None:
    raw = store.r.get(keys.control_result(command_id))
    return json.loads(raw) if raw else None


def wait_for_result(store: Store, keys: KeySpace, command_id: str, timeout: float) -> dict[str, Any] | None:
    """The trader's outcome for ``command_id``, or None when none came within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = read_result(store, keys, command_id)
        if result is not None:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        store.r.blpop([keys.control_ack(command_id)], timeout=min(ACK_POLL_SECONDS, remaining))


def write_result(store: Store, keys: KeySpace, command_id: str, result: dict[str, Any]) -> None:
    """Store the outcome and wake whoever waits for it."""
    pipe = store.r.pipeline(transaction=True)
    pipe.set(keys.control_result(command_id), json.dumps(result, default=str), ex=RESULT_TTL_SECONDS)
    pipe.rpush(keys.control_ack(command_id), "1")
    pipe.expire(keys.control_ack(command_id), ACK_TTL_SECONDS)
    pipe.execute()


def redis_now_ms(store: Store) -> int:
    seconds, micros = store.r.time()
    return int(seconds) * 1000 + int(micros) // 1000


def ask_trader(store: Store, keys: KeySpace, action: str, *, timeout: float,
               params: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Send one ad-hoc command (CLI) and wait for the trader's outcome; None when it did not answer."""
    command = Command(id=f"cli-{uuid.uuid4().hex}", action=action, params=params or {}, ttl_ms=int(timeout * 1000))
    send_command(store, keys, command)
    return wait_for_result(store, keys, command.id, timeout)
