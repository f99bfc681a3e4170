"""Scenario 6 (bad input), task-payload part: malformed messages pushed RAW into the broker's queues and bad
arguments sent by name, against one real worker process.

Promise: no crash (the same worker process is alive and still works afterwards), each bad message is
rejected with a reason that can be found afterwards (worker log or dead-letter list: exactly one per
message), and good data sent in between is counted exactly.
"""

from __future__ import annotations

import json
import pickle
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings

from graphwiz_monitoring.celery import create_app
from graphwiz_monitoring.state.dead_letters import list_dead_letters
from tests.chaos.rawqueue import Pusher, call_body, crash_signs, envelope, good_trade
from tests.chaos.strategies import task_call
from tests.conftest import wait_until
from tests.fakes.notify_fixtures import put_alert

pytestmark = pytest.mark.chaos

QUEUES = ("ingest", "health", "notify.log")
INGEST, RECORD, RECORDS = "workers.ingest.ingest_batch", "workers.ingest.record_trade", "workers.ingest.record_trades"
DELIVER, CHECK = "workers.notify.deliver", "workers.health.run_check"
HUGE_CHARS = 5_000_000
RANDOM_CALLS = 60
# Worker log lines that carry a rejection reason (one per rejected message).
DECODE = "Can't decode message body: DecodeError("
INVALID = "Received invalid task message: "
DROPPED = "broker: dropped "
UNREGISTERED = "Received unregistered task of type"
CHECK_REFUSED = "health check not run: "


class Expect:
    """Reasons we expect to find: log substrings and dead-letter reason substrings, with counts."""

    def __init__(self) -> None:
        self.log: Counter[str] = Counter()
        self.dead: Counter[str] = Counter()

    def check(self, log_text: str, dead_letters: list[dict[str, Any]]) -> None:
        for pattern, n in self.log.items():
            assert log_text.count(pattern) == n, (pattern, log_text.count(pattern), n)
        found: Counter[str] = Counter()
        for entry in dead_letters:  # each entry counts for the most specific pattern it matches
            matching = [p for p in self.dead if p in entry["reason"]]
            assert matching, entry
            found[max(matching, key=len)] += 1
        assert found == self.dead, (found, self.dead)


def push_bad_messages(push: Pusher, expect: Expect, marker: Path) -> None:
    """Every kind of malformed message, each with the reason it must leave behind."""
    for task in (INGEST, CHECK, DELIVER):
        push.body(task, b"{not json")
        expect.log[DECODE + "JSONDecodeError"] += 1
        push.body(task, b"\xff\xfe\x80 not utf-8")
        expect.log[DECODE + "UnicodeDecodeError"] += 1
        push.body(task, b"[" * 100_000 + b"]" * 100_000)  # deeper than any JSON decoder goes
        expect.log[DECODE + "RecursionError"] += 1
        for body in ({"args": []}, [1], "text", None, 42, [[], {}, [1]], [{}, {}, {}]):  # not [args, kwargs, options]
            push.body(task, json.dumps(body).encode())
            expect.log[INVALID + "task body must be [args, kwargs, options]"] += 1
        push.body(task, call_body([json.loads("[" * 600 + "]" * 600)]))  # decodes, but would break the pool
        expect.log[INVALID + "task arguments nested deeper than"] += 1
        # A pickle that would create ``marker`` if anyone unpickled it: only JSON is accepted.
        push.body(task, _evil_pickle(marker), content_type="application/x-python-serialize")
        expect.log[INVALID + "Refusing to deserialize untrusted content of type pickle"] += 1
    push.body("workers.no_such_task", call_body([]))
    expect.log[UNREGISTERED] += 1
    push.body(INGEST, call_body([{}]), headers={"eta": 5})
    expect.log[INVALID + "header eta must be str, got int"] += 1
    push.body(CHECK, call_body(["api_rate_limits"]), headers={"timelimit": ["soon", None]})
    expect.log[INVALID + "invalid timelimit header"] += 1
    push.body(DELIVER, call_body(["a", "log"]), headers={"stamped_headers": 1.5})  # used to leave it reserved forever
    expect.log[INVALID + "header stamped_headers must be list"] += 1

    # Items that are not kombu messages at all.
    for item in (b"{this is not an envelope", b"\xff\xfe not utf-8"):
        push.raw("ingest", item)
        expect.log[DROPPED + "a queue item that is not a message"] += 1
    info = {"exchange": "", "routing_key": "ingest"}
    for item, why in ((json.dumps([1, 2]), "not a JSON object"),
                      (json.dumps({"body": "e30="}), "no properties.delivery_tag"),
                      (json.dumps({"body": "e30=", "properties": {"delivery_tag": "t"}}), "no properties.delivery_info"),
                      (json.dumps({"body": "{}", "headers": {}, "properties": {"delivery_tag": "t",
                                                                              "delivery_info": info}}),
                       "not a task message (no headers.task)"),
                      (json.dumps({"body": "abcde", "headers": {"task": INGEST}, "properties": {
                          "delivery_tag": "t", "body_encoding": "base64", "delivery_info": info}}),
                       "body is not valid base64"),
                      (envelope(INGEST, call_body([{}]), "ingest", headers={"task": ["x"]}), "not a task message (no headers.task)")):
        push.raw("ingest", item)
        expect.log[f"{DROPPED}a malformed message on ingest: "] += 1
        expect.log[why] += 1

    # Well-formed messages with bad arguments: they reach the task, which rejects them.
    push.call(INGEST, 5)
    expect.dead["batch must be a dict, got int"] += 1
    push.call(INGEST, {"batch_id": None, "records": []})
    expect.dead["batch_id must be text"] += 1
    push.call(INGEST, {"batch_id": "b-bad-records", "records": "x"})
    expect.dead["records must be a list, got str"] += 1
    push.call(INGEST, {"batch_id": "b-huge", "records": [{"kind": "trade", "data": {"symbol": "x" * HUGE_CHARS}}]})
    expect.dead["invalid trade"] += 1
    push.call(INGEST, {"batch_id": "b-unknown-kind", "records": [{"kind": "<script>", "data": {}}]})
    expect.dead["unknown record kind"] += 1
    push.call(INGEST, "one", "two")  # wrong arity
    expect.dead["batch_id must be text"] += 1
    push.call(RECORD, "not a trade")
    expect.dead["invalid trade"] += 1
    push.call(RECORD, {"symbol": "BTC/USDT", "side": "sideways", "price": -1, "quantity": "1"})
    expect.dead["invalid trade"] += 1
    push.call(RECORDS, {"not": "a list"})
    expect.dead["trades must be a list, got dict"] += 1
    push.call(DELIVER, "no-such-alert", "log")
    expect.dead["alert record not found"] += 1
    push.call(DELIVER, "no-such-alert", "carrier-pigeon")
    expect.dead["unknown channel"] += 1
    push.call(DELIVER, "no-such-alert", "log", "sideways")
    expect.dead["unknown kind"] += 1
    for task_id in (push.call(DELIVER), push.call(CHECK), push.call(DELIVER, "a", "log", "firing", "extra")):
        expect.log[f"[{task_id}] raised unexpected: TypeError"] += 1
    push.call(CHECK, "no_such_check")
    push.call(CHECK, "y" * 100_000)
    push.call(CHECK, ["unhashable"])
    expect.log[CHECK_REFUSED + "unknown health check"] += 3

    # Through the app, as any producer would send them.
    app = create_app(_settings_for(push))
    app.send_task(RECORD, args=(1, 2, 3))  # the whole malformed call is kept as the rejected trade
    expect.dead["invalid trade: symbol: required field is missing"] += 1
    app.send_task(RECORDS, kwargs={"trades": [{"deep": json.loads("[" * 20 + "]" * 20)}]})
    expect.dead["invalid trade: symbol: required field is missing"] += 1
    app.send_task(INGEST, kwargs={"wrong_name": {}})
    expect.dead["batch_id must be text"] += 1


def _evil_pickle(marker: Path) -> bytes:
    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (open, (str(marker), "w"))

    return pickle.dumps(((Evil(),), {}, {}))


def _settings_for(push: Pusher) -> Any:
    from graphwiz_monitoring.config import parse_settings

    kwargs = push.client.connection_pool.connection_kwargs
    return parse_settings({"redis": {"url": f"redis://{kwargs['host']}:{kwargs['port']}/0"}}, env={})


def test_malformed_messages_are_rejected_with_reasons_and_good_data_is_exact(
        celery_processes, redis_url, store, keys, tmp_path) -> None:
    client = redis.Redis.from_url(redis_url)
    push = Pusher(client)
    worker = celery_processes("worker", "-Q", ",".join(QUEUES), "-c", "1", "--loglevel", "INFO",
                              "--without-mingle", "--without-gossip")
    pid = worker.proc.pid
    expect = Expect()
    marker = tmp_path / "unpickled"
    good = 0

    def send_good() -> None:
        nonlocal good
        push.call(RECORD, good_trade(good))
        good += 1

    def drained() -> bool:
        return all(client.llen(q) == 0 for q in QUEUES) and client.hlen("unacked") == 0

    send_good()
    push_bad_messages(push, expect, marker)
    send_good()
    wait_until(drained, timeout=60, message="every queued message handled")
    wait_until(lambda: store.r.hget(keys.trading_agg, "total_trades") == str(good), timeout=30,
               message="good trades counted")
    dead = list_dead_letters(store, keys, limit=10_000)
    expect.check(worker.output(), dead)
    assert not marker.exists(), "a pickle payload was deserialized"
    assert max(len(json.dumps(d)) for d in dead) < 20_000  # a 5 MB payload is kept as a bounded preview

    # Random arguments of any arity and type for every task: no outcome is predicted, none may hurt.
    @settings(max_examples=RANDOM_CALLS, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(call=task_call())
    def random_call(call: tuple[str, list[Any], dict[str, Any]]) -> None:
        name, args, kwargs = call
        push.body(name, call_body(args, kwargs))

    random_call()
    send_good()
    # Afterwards the same process still does real work of every kind.
    alert = put_alert(store, keys, title="after the fuzz")
    push.call(DELIVER, alert.alert_id, "log")
    push.call(CHECK, "api_rate_limits")
    wait_until(drained, timeout=60, message="random calls handled")
    wait_until(lambda: store.r.hget(keys.trading_agg, "total_trades") == str(good), timeout=30,
               message="good trades counted after the random calls")
    wait_until(lambda: store.r.hget(keys.notification_counts, "log|sent") == "1", timeout=30,
               message="the good notification sent")
    wait_until(lambda: store.r.llen(keys.health_history("api_rate_limits")) == 1, timeout=30,
               message="the good health check stored")
    assert worker.alive() and worker.proc.pid == pid
    output = worker.output()
    assert output.count("ready.") == 1
    assert crash_signs(output) == [] and "Warm shutdown" not in output
    print(f"\nscenario 6 (queues): {sum(expect.log.values()) + sum(expect.dead.values())} malformed messages, each "
          f"rejected once ({sum(expect.log.values())} reasons in the worker log, {sum(expect.dead.values())} dead "
          f"letters), then {RANDOM_CALLS} random calls; good trades {good}/{good}; worker pid unchanged")
