"""The snapshot's ``monitoring`` section on a real Redis, the self-monitoring rules on it, and the
dead-man's switch's decision and ping (issue 15, items 3 and 5)."""

from __future__ import annotations

import logging

import pytest

from graphwiz_monitoring.alerting.delivery import DEAD_LETTERED, count
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.health.heartbeat import send_heartbeat
from graphwiz_monitoring.metrics.pipeline import heartbeat_problems, read_section
from graphwiz_monitoring.metrics.snapshot import build_snapshot
from graphwiz_monitoring.rulebook.rules import builtin_rule
from graphwiz_monitoring.state import KeySpace, stamps
from tests.conftest import free_port
from tests.fakes.chat_apis import WebhookReceiver

SECRET = WebhookReceiver.PATH.rsplit("/", 1)[-1]


def _consume(store, queue: str, lapses_in: float = 15.0) -> None:
    """A live consumer of ``queue``, as celery/liveness.py records one."""
    store.r.zadd(KeySpace.queue_consumers(queue), {f"test:{queue}": store.now() + lapses_in})


def _alive(store, keys) -> None:
    stamps.stamp(store, keys, stamps.BEAT, stamps.RULES)
    for queue in ("ingest", "notify.log"):
        _consume(store, queue)


@pytest.fixture
def receiver():
    fake = WebhookReceiver().start()
    yield fake
    fake.stop()


def test_the_heartbeat_needs_every_fact_and_names_the_missing_ones(store, keys, settings) -> None:
    assert heartbeat_problems(read_section(store, keys), settings) == [
        "beat is not ticking", "rules were never evaluated", "no live worker consumes ingest",
        "no live worker consumes notify.log"]
    _alive(store, keys)
    assert heartbeat_problems(read_section(store, keys), settings) == []
    store.r.delete(KeySpace.queue_consumers("ingest"))
    store.r.lpush("ingest", "{}")  # a backlog nobody takes
    assert heartbeat_problems(read_section(store, keys), settings) == ["no live worker consumes ingest (1 waiting)"]
    _consume(store, "ingest", lapses_in=-1)  # its worker died: the entry lapsed
    assert heartbeat_problems(read_section(store, keys), settings) == ["no live worker consumes ingest (1 waiting)"]
    _consume(store, "ingest")
    store.r.hset(keys.monitoring_stamps, stamps.BEAT, store.now() - 100)
    assert heartbeat_problems(read_section(store, keys), settings) == ["beat last ticked 100s ago"]
    # A configured channel's queue must be consumed too.
    with_slack = parse_settings({"redis": {"url": settings.redis.url},
                                 "notifications": {"slack": {"webhook_url": "https://hooks.example/x"}}}, env={})
    stamps.stamp(store, keys, stamps.BEAT)
    assert heartbeat_problems(read_section(store, keys), with_slack) == ["no live worker consumes notify.slack"]


def test_the_ping_goes_out_only_while_alive_and_never_logs_the_url(store, keys, settings, receiver, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    config = parse_settings({"redis": {"url": settings.redis.url},
                             "monitoring": {"heartbeat_url": receiver.url, "heartbeat_interval_seconds": 5}}, env={})
    assert not send_heartbeat(store, keys, config).pinged and receiver.received() == []
    _alive(store, keys)
    result = send_heartbeat(store, keys, config)
    assert result.pinged and result.status == 200 and [r.method for r in receiver.received()] == ["GET"]
    pinged_at = float(store.r.hget(keys.monitoring_stamps, stamps.HEARTBEAT))
    receiver.fail(1)
    failed = send_heartbeat(store, keys, config)
    assert not failed.pinged and failed.problems == ["HTTP 500"]
    assert float(store.r.hget(keys.monitoring_stamps, stamps.HEARTBEAT)) == pinged_at  # a failed ping vouches for nothing
    nobody = parse_settings({"redis": {"url": settings.redis.url}, "monitoring": {
        "heartbeat_url": f"http://127.0.0.1:{free_port()}/{SECRET}"}}, env={})  # nothing listens there
    down = send_heartbeat(store, keys, nobody)
    assert not down.pinged and down.problems == ["heartbeat: connection refused"]
    assert SECRET not in caplog.text and SECRET not in str([failed.summary(), down.summary()])


def test_self_monitoring_rules_fire_on_a_real_snapshot(store, keys, settings, redis_server) -> None:
    quiet = build_snapshot(store, keys, settings)["monitoring"]
    assert quiet["beat_age_seconds"] is None and quiet["redis_maxmemory_bytes"] == 0  # never fires on no data
    assert quiet["redis_memory_percent"] is None and quiet["queues"]["ingest"] == {"length": 0, "consumers": 0}
    for name in ("beat_down", "queue_unconsumed", "notify_dead_letters", "redis_memory_high"):
        assert builtin_rule(name).evaluate({"monitoring": quiet}) == [], name

    store.r.hset(keys.monitoring_stamps, stamps.BEAT, store.now() - 120)  # beat died two minutes ago
    store.r.lpush("recovery", "{}")  # a task in a queue nobody consumes
    count(store, keys, "discord", DEAD_LETTERED)  # a notification dead-lettered just now
    used = int(store.r.info("memory")["used_memory"])
    store.r.config_set("maxmemory", int(used * 1.15))  # ~87 % of maxmemory
    try:
        snapshot = build_snapshot(store, keys, settings)
    finally:
        store.r.config_set("maxmemory", 0)
    section = snapshot["monitoring"]
    assert 119 < section["beat_age_seconds"] < 125 and section["notify_dead_lettered_age_seconds"] < 5
    fired = {name: [m.label_dict for m in builtin_rule(name).evaluate(snapshot)]
             for name in ("beat_down", "queue_unconsumed", "notify_dead_letters", "redis_memory_high")}
    assert fired == {"beat_down": [{}], "queue_unconsumed": [{"queue": "recovery"}], "notify_dead_letters": [{}],
                     "redis_memory_high": [{}]}, section
