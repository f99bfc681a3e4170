"""Issue 11 finding 7: a stalled or partitioned sender must not make its notification go out twice.

Worker A sends a webhook notification; the instant the receiver has the request (before it answers),
A is either frozen whole with SIGSTOP for ~21 s, or cut off from Redis for 40 s by a frozen TCP
forwarder (tests/fakes/tcp_forwarder.py) between A and Redis. Either way A's heartbeat key expires
after 15 s and worker B requeues A's message (celery/liveness.py). B's redelivery must not take
over the lease A's attempt still holds: it waits; A, back, records the send; B then finds it done.
The receiver must count exactly one delivery. Before the fix the redelivery (same task id) re-took
the live lease and sent again, ~20 s after the first.

Both runs share one private redis-server (one database each) and run at the same time, in the
background of a module fixture, so the module costs the longer of the two (~50 s), not their sum.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from graphwiz_monitoring.state import KeySpace, Store
from tests.chaos.notify_kills import until
from tests.conftest import CeleryProcess, RedisServer
from tests.fakes.chaos_endpoints import SlowReceiver
from tests.fakes.notify_fixtures import config_yaml, make_settings, put_alert
from tests.fakes.pool_kill import WorkerGroup
from tests.fakes.tcp_forwarder import FreezableForwarder

pytestmark = [pytest.mark.chaos, pytest.mark.e2e]

STALL_SECONDS = 21.0  # longer than the heartbeat TTL: B takes A for dead and requeues its message
PARTITION_SECONDS = 40.0
# The redelivery must have happened while A was away, else the run proves nothing.
REQUEUED = "requeued 1 message(s) held by a worker that stopped"
SETTLE_SECONDS = 60.0


def worker_args(name: str) -> tuple[str, ...]:
    return ("worker", "-Q", "notify.webhook", "-c", "1", "-n", f"{name}@%h", "--loglevel", "INFO",
            "--without-mingle", "--without-gossip")


def webhook_section(url: str) -> dict[str, Any]:
    return {"log": {"level": "WARNING"},
            "webhook": {"url": url, "timeout_seconds": 5, "rate_limit": None, "max_retries": 5,
                        "retry_backoff_seconds": 0.1, "retry_backoff_max_seconds": 1}}


def send_task(settings: Any, alert_id: str) -> str:
    """``enqueue`` (the lifecycle's contract: the task by name, ids only), returning the task id."""
    from graphwiz_monitoring.celery import create_app

    return str(create_app(settings).send_task("workers.notify.deliver", args=(alert_id, "webhook", "firing")).id)


def settled(url: str, store: Store, keys: KeySpace, alert_id: str) -> bool:
    """The record is final and nothing is queued, held unacknowledged or waiting for its countdown."""
    client = redis.Redis.from_url(url)
    try:
        done = store.r.hget(keys.delivery(alert_id, "webhook", "firing"), "state") == "done"
        return done and client.llen("notify.webhook") == 0 and client.hlen("unacked") == 0
    finally:
        client.close()


def run_away(tmp: Path, url: str, a_url: str, abort: threading.Event, name: str,
             cut_off: Callable[[CeleryProcess], Callable[[], None]], seconds: float) -> dict[str, Any]:
    """A (on ``a_url``) sends; when the receiver has the request, ``cut_off(A)`` isolates A, which comes back
    (the function it returned) after ``seconds``; B (on ``url``) is started meanwhile."""
    fake = SlowReceiver(0.0).start()
    store = Store(url)
    figures: dict[str, Any] = {"case": name}
    state: dict[str, Any] = {}
    cut = threading.Event()
    try:
        notifications = webhook_section(fake.url)
        settings = make_settings(url, notifications)
        keys = KeySpace(settings.redis.namespace)
        extra = config_yaml(notifications)
        with WorkerGroup(tmp, a_url, "a") as group_a, WorkerGroup(tmp, url, "b") as group_b:
            worker_a = group_a.start(*worker_args(f"{name}-a"), config_extra=extra)

            def hook(req: Any) -> None:  # runs before the receiver answers: A has no answer yet
                if "at" not in state:
                    state["at"] = time.monotonic()
                    state["back"] = cut_off(worker_a)
                    cut.set()

            fake.after_answer = hook
            alert = put_alert(store, keys, title=f"stalled sender: {name}")
            record = keys.delivery(alert.alert_id, "webhook", "firing")
            try:
                task_id = send_task(settings, alert.alert_id)
                until(cut.is_set, abort, timeout=30, message=f"{name}: A's request arrived")
                figures["state_when_cut_off"] = store.r.hget(record, "state")
                worker_b = group_b.start(*worker_args(f"{name}-b"), config_extra=extra)

                def taken_over() -> bool:  # B requeued A's message and runs it: noted once
                    if "requeued" not in state and REQUEUED in worker_b.output():
                        state["requeued"] = time.monotonic()
                    return "requeued" in state and worker_b.output().count(f"[{task_id}] received") >= 1

                # Away for ``seconds``, and in any case until B has taken A's message over (heartbeat expiry
                # plus B's next restore pass: 10-25 s), or the run would not test anything.
                until(lambda: taken_over() and time.monotonic() >= state["at"] + seconds, abort,
                      timeout=seconds + 30, interval=0.1, message=f"{name}: A away and its message with B")
            finally:
                if "back" in state:
                    state["back"]()
            figures["back_after_s"] = round(time.monotonic() - state["at"], 1)
            until(lambda: settled(url, store, keys, alert.alert_id), abort, timeout=SETTLE_SECONDS, interval=0.2,
                  message=f"{name}: the notification settled")
            time.sleep(0.5)  # a duplicate sent at the very end would show now
            arrivals = sorted(r.arrived for r in fake.received() if r.alert_id == alert.alert_id)
            answered = [r for r in fake.delivered() if r.alert_id == alert.alert_id]
            figures.update(
                requests=len(arrivals), delivered=len(answered), duplicates=max(0, len(answered) - 1),
                arrivals_s=[round(t - state["at"], 1) for t in arrivals],
                settled_after_s=round(time.monotonic() - state["at"], 1),
                b_requeued_after_s=round(state["requeued"] - state["at"], 1),
                b_requeued=REQUEUED in worker_b.output(), b_waited=worker_b.output().count("claimed by another task"),
                a_alive=worker_a.alive(), a_log_tail=worker_a.output()[-1500:], b_log_tail=worker_b.output()[-1500:])
    finally:
        fake.stop()
        store.close()
    return figures


def run_stall(tmp: Path, url: str, abort: threading.Event) -> dict[str, Any]:
    def cut_off(worker: CeleryProcess) -> Callable[[], None]:
        os.killpg(worker.proc.pid, signal.SIGSTOP)  # the main process and its pool child alike
        return lambda: os.killpg(worker.proc.pid, signal.SIGCONT)

    return run_away(tmp, url, url, abort, "sigstop", cut_off, STALL_SECONDS)


def run_partition(tmp: Path, url: str, abort: threading.Event, forwarder: FreezableForwarder) -> dict[str, Any]:
    def cut_off(worker: CeleryProcess) -> Callable[[], None]:
        forwarder.freeze()
        return forwarder.thaw

    return run_away(tmp, url, forwarder.url_for(url), abort, "partition", cut_off, PARTITION_SECONDS)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[dict[str, Any]]]]:
    """Both runs at once, on one private redis-server (database 1: stall, 2: partition)."""
    tmp = tmp_path_factory.mktemp("stalled-sender")
    server = RedisServer(tmp / "redis")
    server.start()
    base = server.url.rsplit("/", 1)[0]
    abort = threading.Event()
    forwarder = FreezableForwarder("127.0.0.1", server.port).start()
    pool = ThreadPoolExecutor(2)
    try:
        yield {"stall": pool.submit(run_stall, tmp / "stall", f"{base}/1", abort),
               "partition": pool.submit(run_partition, tmp / "partition", f"{base}/2", abort, forwarder)}
    finally:
        abort.set()
        forwarder.thaw()
        pool.shutdown(wait=True)
        forwarder.stop()
        server.stop()


def check(figures: dict[str, Any]) -> None:
    shown = {k: v for k, v in figures.items() if not k.endswith("log_tail")}
    print(f"\nSTALLED_SENDER {json.dumps(shown)}")
    # The scenario happened: A was cut off before recording its send, and B took its message over.
    assert figures["state_when_cut_off"] == "claimed" and figures["b_requeued"], figures
    assert figures["a_alive"], figures
    assert figures["delivered"] == 1 and figures["duplicates"] == 0, figures


@pytest.mark.timeout(STALL_SECONDS + SETTLE_SECONDS + 60)
def test_sender_frozen_by_sigstop_for_21s_sends_once(runs: dict[str, Future[dict[str, Any]]]) -> None:
    check(runs["stall"].result())


@pytest.mark.timeout(PARTITION_SECONDS + SETTLE_SECONDS + 60)
def test_sender_cut_off_from_redis_for_40s_sends_once(runs: dict[str, Future[dict[str, Any]]]) -> None:
    check(runs["partition"].result())
