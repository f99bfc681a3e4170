"""Broker messages a worker took and then could not finish are put back on their queue, once.

- popped at the instant Redis died: requeued by the next channel once the broker answers again;
- held by a worker that died (SIGKILL): requeued by any worker's periodic pass, not after the
  visibility timeout.

kombu's Redis transport takes a message with BRPOP and then records it in its ``unacked`` hash; if the
connection breaks in between (or the record is written but its reply is lost), kombu drops the message
and the worker never sees it. celery_hardening keeps it and the next channel requeues it, exactly once.
The break is simulated at that step against a real redis-server.
"""

from __future__ import annotations

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.transport import redis as redis_transport
from redis.exceptions import ConnectionError as RedisConnectionError

from graphwiz_monitoring.celery import hardening as celery_hardening
from graphwiz_monitoring.celery import liveness as consumer_liveness

EXCHANGE = Exchange("graphwiz-test", type="direct")
QUEUE = Queue("hardening-test", EXCHANGE, routing_key="hardening-test")


@pytest.fixture
def connection(redis_url):
    conn = Connection(redis_url, transport=celery_hardening.GuardedRedisTransport)
    yield conn
    celery_hardening._POPPED_UNRECORDED.clear()
    conn.release()


def _publish(conn: Connection, body: dict) -> None:
    with conn.channel() as channel:
        Producer(channel).publish(body, exchange=EXCHANGE, routing_key="hardening-test", declare=[QUEUE])


@pytest.mark.parametrize("written", [False, True], ids=["entry-not-written", "reply-lost"])
def test_message_popped_when_the_connection_breaks_is_requeued_once(connection, redis_url, store, monkeypatch,
                                                                    written):
    _publish(connection, {"batch": 1})
    original = redis_transport.QoS.append

    def broken_append(self, message, delivery_tag):
        if written:  # Redis stored the unacked entry, then the connection died before the reply
            original(self, message, delivery_tag)
        raise RedisConnectionError("connection lost (simulated)")

    monkeypatch.setattr(redis_transport.QoS, "append", broken_append)
    received = []
    channel = connection.channel()
    with Consumer(channel, [QUEUE], callbacks=[lambda body, m: received.append(body)], accept=["json"]):
        with pytest.raises(RedisConnectionError):
            connection.drain_events(timeout=5)
    assert received == [] and store.r.llen(QUEUE.name) == 0  # popped: only this process knows it now

    monkeypatch.setattr(redis_transport.QoS, "append", original)
    with Connection(redis_url, transport=celery_hardening.GuardedRedisTransport) as again:
        with again.channel() as fresh:  # a new channel after reconnect puts it back
            assert store.r.llen(QUEUE.name) == 1
            assert store.r.hlen("unacked") == 0  # no stale entry left to be restored a second time
            message = fresh.basic_get(QUEUE.name, no_ack=True)
            assert message is not None and message.payload == {"batch": 1}
            assert message.delivery_info.get("redelivered") is True
            assert fresh.basic_get(QUEUE.name, no_ack=True) is None


def _take_one(conn: Connection) -> tuple[object, object]:
    """Take one message without acknowledging it (basic_get: no BRPOP left waiting); (channel, message)."""
    channel = conn.channel()
    message = channel.basic_get(QUEUE.name, no_ack=False)
    assert message is not None
    return channel, message


def test_messages_held_by_a_dead_worker_are_requeued_without_waiting_for_the_visibility_timeout(
        connection, store) -> None:
    _publish(connection, {"batch": "held-by-the-dead"})
    _publish(connection, {"batch": "held-by-the-living"})
    channel, dead_held = _take_one(connection)
    _, live_held = _take_one(connection)
    owners = store.r.hgetall(consumer_liveness.OWNERS_KEY)
    assert set(owners) == {dead_held.delivery_tag, live_held.delivery_tag}
    me = owners[live_held.delivery_tag]
    assert store.r.exists(consumer_liveness.ALIVE_PREFIX + me)  # this process's heartbeat
    # Another process took the first message and was then SIGKILLed: its heartbeat key is gone.
    store.r.hset(consumer_liveness.OWNERS_KEY, dead_held.delivery_tag, "elsewhere:4242:deadbeef")

    channel.qos.restore_visible()  # what every worker runs at start-up and every 10 s

    assert store.r.llen(QUEUE.name) == 1
    assert store.r.hkeys("unacked") == [live_held.delivery_tag]  # the living worker keeps its message
    assert store.r.hgetall(consumer_liveness.OWNERS_KEY) == {live_held.delivery_tag: me}
    with Connection(store.url, transport=celery_hardening.GuardedRedisTransport) as other:
        with other.channel() as fresh:
            message = fresh.basic_get(QUEUE.name, no_ack=True)
            assert message is not None and message.payload == {"batch": "held-by-the-dead"}
    live_held.ack()
    assert store.r.hlen("unacked") == 0 and store.r.hlen(consumer_liveness.OWNERS_KEY) == 0
