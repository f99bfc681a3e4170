"""Issue 11 finding 5: every Redis URL form ``redis.url`` accepts gets the same worker hardening.

The guarded transport (a malformed queue item is logged and dropped), the dead-worker requeue (each
message taken has an owner with a heartbeat key) and the lost-pop recovery used to be installed only
for URLs starting ``redis://``: against TLS Redis (``rediss://``) one malformed item stopped the
worker ("Unrecoverable error: JSONDecodeError"), and ``unix://`` did not start a worker at all
("No such transport: unix"). A real worker per form, against one redis-server serving TLS (certificate
checked against a test CA) and a unix socket, gets a malformed item and then a good task.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from graphwiz_monitoring.celery import liveness as consumer_liveness
from graphwiz_monitoring.state import KeySpace, Store
from tests.chaos.rawqueue import Pusher, crash_signs, good_trade
from tests.conftest import wait_until
from tests.fakes.pool_kill import WorkerGroup
from tests.fakes.redis_forms import TlsUnixRedis

pytestmark = [pytest.mark.chaos, pytest.mark.e2e]

RECORD = "workers.ingest.record_trade"
DROPPED = "broker: dropped a queue item that is not a message"


@pytest.fixture(scope="module")
def tls_unix_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsUnixRedis]:
    server = TlsUnixRedis(tmp_path_factory.mktemp("redis-tls")).start()
    yield server
    server.stop()


@pytest.mark.parametrize("form", ["rediss", "unix"])
def test_rediss_and_unix_urls_get_the_worker_hardening(tls_unix_redis: TlsUnixRedis, tmp_path: Path,
                                                        form: str) -> None:
    url = tls_unix_redis.tls_url(1) if form == "rediss" else tls_unix_redis.unix_url(2)
    client = redis.Redis.from_url(url)
    store = Store(url)
    keys = KeySpace("graphwiz")
    push = Pusher(client)
    with WorkerGroup(tmp_path, url, form) as group:
        worker = group.start("worker", "-Q", "ingest", "-c", "1", "-n", f"{form}@%h", "--loglevel", "INFO",
                             "--without-mingle", "--without-gossip")
        pid = worker.proc.pid
        push.call(RECORD, good_trade(0))
        wait_until(lambda: store.r.hget(keys.trading_agg, "total_trades") == "1", timeout=30,
                   message=f"a good trade counted through {form}://")
        push.raw("ingest", b"{not json")  # what stopped the worker over rediss://
        push.call(RECORD, good_trade(1))
        wait_until(lambda: store.r.hget(keys.trading_agg, "total_trades") == "2" or not worker.alive(), timeout=30,
                   message="the good trade after the malformed item counted")
        output = worker.output()
        assert worker.alive() and worker.proc.pid == pid, output[-3000:]
        assert store.r.hget(keys.trading_agg, "total_trades") == "2"
        assert output.count(DROPPED) == 1 and crash_signs(output) == [], output[-3000:]
        # The dead-worker requeue is installed too: the consuming process keeps its heartbeat key.
        assert list(client.scan_iter(consumer_liveness.ALIVE_PREFIX + "*")), "no consumer heartbeat key"
    client.close()
    store.close()
