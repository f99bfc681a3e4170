"""Task messages written straight into the broker's Redis lists, the way kombu lays them out.

A message is the JSON envelope kombu's Redis transport LPUSHes: ``{"body": base64(json([args, kwargs,
options])), "headers": {task protocol 2}, "properties": {...}}``. Everything here can be broken on
purpose: the body, its encoding, the headers, or the envelope itself.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import redis

QUEUE_OF = {"workers.ingest.ingest_batch": "ingest", "workers.ingest.record_trade": "ingest",
            "workers.ingest.record_trades": "ingest", "workers.notify.deliver": "notify.log",
            "workers.health.run_check": "health"}


def envelope(task: str, body: bytes, queue: str, *, headers: dict[str, Any] | None = None,
             content_type: str = "application/json", task_id: str | None = None) -> str:
    task_id = task_id or str(uuid.uuid4())
    head = {"lang": "py", "task": task, "id": task_id, "shadow": None, "eta": None, "expires": None,
            "group": None, "group_index": None, "retries": 0, "timelimit": [None, None], "root_id": task_id,
            "parent_id": None, "argsrepr": "(raw)", "kwargsrepr": "{}", "origin": "chaos-test",
            "ignore_result": True, **(headers or {})}
    return json.dumps({
        "body": base64.b64encode(body).decode(), "content-encoding": "utf-8", "content-type": content_type,
        "headers": head,
        "properties": {"correlation_id": task_id, "delivery_mode": 2, "priority": 0, "body_encoding": "base64",
                       "delivery_info": {"exchange": "", "routing_key": queue}, "delivery_tag": str(uuid.uuid4())},
    })


def call_body(args: list[Any], kwargs: dict[str, Any] | None = None) -> bytes:
    return json.dumps([args, kwargs or {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]).encode()


@dataclass
class Pusher:
    """LPUSHes raw items onto queues and counts what it pushed."""

    client: redis.Redis

    def raw(self, queue: str, item: bytes | str) -> None:
        self.client.lpush(queue, item)

    def body(self, task: str, body: bytes, **options: Any) -> str:
        task_id = options.pop("task_id", None) or str(uuid.uuid4())
        queue = options.pop("queue", None) or QUEUE_OF.get(task, "ingest")
        self.client.lpush(queue, envelope(task, body, queue, task_id=task_id, **options))
        return task_id

    def call(self, task: str, *args: Any, **kwargs: Any) -> str:
        return self.body(task, call_body(list(args), kwargs))


def good_trade(i: int) -> dict[str, Any]:
    return {"trade_id": f"good-{i}", "symbol": "BTC/USDT", "side": "buy", "price": 100.0, "quantity": 1.0,
            "pnl": 1.0, "success": True}


# Log lines of a worker that stopped, lost a child or reconnected (anchored: payloads may contain the words).
CRASH_LINES = re.compile(
    r"^\[[^\]]+: (?:CRITICAL|ERROR|WARNING|INFO)/MainProcess\] (?:Unrecoverable error|Restoring \d+ unacknowledged"
    r"|consumer: Connection to broker lost|Process '[\w-]+' pid:\d+ exited with|.*WorkerLostError)", re.MULTILINE)


def crash_signs(output: str) -> list[str]:
    """Every worker log line saying the worker died, lost a pool process or dropped its broker connection."""
    return [m.group(0)[:200] for m in CRASH_LINES.finditer(output)]
