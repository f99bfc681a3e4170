"""Durable writes (issue 15 item 1): ``run_script(..., durable=True)`` and ``execute_durable`` wait for a replica.

The script calls go through ``outbox.mark_handed`` (``zadd_now.lua``, a durable write): tests call the
scripts' wrappers, never ``run_script`` (tests/unit/test_layout.py).

With a replica the write returns once the replica has it (read back from the replica at once); without
one (a single Redis, or a promoted replica left alone) the write still happens, waits at most the
timeout once, counts as unconfirmed, and the following writes stop waiting for a while instead of each
paying the timeout. ``min_replicas_acked: 0`` (the default with a single Redis) never sends WAIT.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from graphwiz_monitoring.alerting.outbox import mark_handed
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import RedisServer, free_port, require_binary, wait_until


@pytest.fixture(scope="module")
def primary_with_replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, int]]:
    primary = RedisServer(tmp_path_factory.mktemp("primary"))
    primary.start()
    redis.Redis(port=primary.port).config_set("repl-diskless-sync-delay", 0)  # the replica syncs at once
    port = free_port()
    replica = subprocess.Popen([require_binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                                "--replicaof", "127.0.0.1", str(primary.port), "--save", "", "--appendonly", "no",
                                "--dir", str(tmp_path_factory.mktemp("replica"))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def in_sync() -> bool:
        try:
            info = redis.Redis(port=primary.port, decode_responses=True).info("replication")
            return info.get("slave0", {}).get("state") == "online"
        except redis.RedisError:
            return False
    wait_until(in_sync, timeout=15, message="the replica in sync")
    yield primary, port
    replica.terminate()
    replica.wait(timeout=10)
    primary.stop()


def test_durable_script_returns_once_the_replica_has_it(primary_with_replica: tuple[RedisServer, int]) -> None:
    primary, replica_port = primary_with_replica
    store = Store(primary.url, replicas=1, replica_timeout_seconds=2)
    replica = redis.Redis(port=replica_port, decode_responses=True)
    keys = KeySpace("durable")
    for n in range(20):
        mark_handed(store, keys, [f"m{n}"])
        assert replica.zscore(keys.notify_handed, f"m{n}") is not None  # WAIT ran on the write's own connection
    store.r.script_flush()  # what a promoted replica looks like: none of our scripts loaded
    mark_handed(store, keys, ["after-flush"])
    assert replica.zscore(keys.notify_handed, "after-flush") is not None
    pipe = store.r.pipeline(transaction=False)
    pipe.set("durable:ack", "1")
    pipe.incr("durable:count")
    assert store.execute_durable(pipe) == [True, 1]  # the replies, without WAIT's
    assert replica.get("durable:ack") == "1"
    assert store.unconfirmed_writes == 0


def test_without_a_replica_the_write_happens_waits_once_and_is_counted(tmp_path: Path) -> None:
    alone = RedisServer(tmp_path / "alone")
    alone.start()
    try:
        store, keys = Store(alone.url, replicas=1, replica_timeout_seconds=0.3), KeySpace()
        started = time.monotonic()
        mark_handed(store, keys, ["a"])
        first = time.monotonic() - started
        started = time.monotonic()
        mark_handed(store, keys, ["b"])
        second = time.monotonic() - started
        assert first >= 0.3 and second < 0.2, (first, second)  # no replica known: later writes do not wait
        assert store.r.zcard(keys.notify_handed) == 2 and store.unconfirmed_writes == 2
        with pytest.raises(StateError, match="transaction=False"):  # inside MULTI, WAIT would not wait
            store.execute_durable(store.r.pipeline(transaction=True))

        never = Store(alone.url)  # replicas=0: a single Redis (the default without Sentinel)
        started = time.monotonic()
        mark_handed(never, keys, ["c"])
        assert time.monotonic() - started < 0.2 and never.unconfirmed_writes == 0
        assert store.r.zcard(keys.notify_handed) == 3
    finally:
        alone.stop()


def test_wait_stays_below_the_socket_timeout(tmp_path: Path) -> None:
    """A WAIT longer than the socket timeout would make the client give up and retry the whole write."""
    alone = RedisServer(tmp_path / "alone")
    alone.start()
    try:
        store, keys = Store(alone.url, socket_timeout=0.4, replicas=1, replica_timeout_seconds=5), KeySpace()
        started = time.monotonic()
        mark_handed(store, keys, ["a"])
        assert time.monotonic() - started < 0.4
        assert store.r.zcard(keys.notify_handed) == 1 and store.unconfirmed_writes == 1
    finally:
        alone.stop()
