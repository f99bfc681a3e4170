"""Read Celery messages straight from the Redis broker lists (no worker consuming them)."""

from __future__ import annotations

import base64
import json
from typing import Any

import redis


def queued_messages(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    """Every message waiting on ``queue`` (kombu keeps one list per priority step: ``queue``, ``queue\\x06\\x16N``)."""
    names = [k for k in client.keys(queue + "*") if k.decode(errors="replace").split("\x06")[0] == queue]
    messages = []
    for name in names:
        if client.type(name) != b"list":
            continue
        for raw in client.lrange(name, 0, -1):
            envelope = json.loads(raw)
            body = envelope["body"]
            if envelope.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args, kwargs, _ = json.loads(body)
            messages.append({"task": envelope["headers"]["task"], "args": args, "kwargs": kwargs})
    return messages


def broker_idle(client: redis.Redis, queue: str) -> bool:
    """Nothing waiting on ``queue`` and nothing delivered but unacknowledged."""
    return client.llen(queue) == 0 and client.hlen("unacked") == 0
