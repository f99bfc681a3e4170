"""A switchover (``SENTINEL FAILOVER``): the old master stays up and, once demoted, answers writes with
READONLY; the store reconnects to the new master and retries, without an error, a lost or a doubled write.

The sentinels demote the old master at their next look at it (up to 10 s later); the test does it at once
(``REPLICAOF`` the new master, what they would send). The kill -9 failover under load, with every
process, is tests/chaos/test_sentinel_failover.py.
"""

from __future__ import annotations

import time

import redis

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.state import Store
from tests.conftest import wait_until
from tests.fakes.sentinel_cluster import DATA_PASSWORD, MASTER_NAME, SENTINEL_PASSWORD, SentinelCluster

WRITES = 100


def test_writes_follow_a_switchover_through_readonly_replies(tmp_path) -> None:
    cluster = SentinelCluster(tmp_path).start()
    try:
        store = Store.from_settings(parse_settings({"redis": cluster.settings(socket_timeout_seconds=2)},
                                                   env={}).redis)
        old = cluster.master_port()
        pipe = store.r.pipeline(transaction=False)
        for _ in range(WRITES):
            pipe.incr("switchover:count")
        store.execute_durable(pipe)  # the replica has them before the switch
        assert store.unconfirmed_writes == 0

        with redis.Redis(port=cluster.sentinel_ports[0], password=SENTINEL_PASSWORD) as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        new = wait_until(lambda: (port := cluster.master_port()) != old and port, timeout=30, interval=0.02,
                         message="the sentinels to switch over")
        with redis.Redis(port=old, password=DATA_PASSWORD, decode_responses=True) as demoted:
            demoted.replicaof("127.0.0.1", new)
            started = time.monotonic()
            for _ in range(WRITES):  # the store's connection still points at the old master
                store.r.incr("switchover:count")
            took = time.monotonic() - started
            readonly = demoted.info("errorstats").get("errorstat_READONLY", {}).get("count", 0)
        assert readonly >= 1, "no write met the demoted master: the READONLY path was not exercised"
        assert int(store.r.get("switchover:count")) == 2 * WRITES  # none lost, none applied twice
        assert took < 5, took
    finally:
        cluster.stop()
