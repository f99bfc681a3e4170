"""Scenario 1, notification half: real workers killed with SIGKILL while sends are in flight.

Each run owns one Redis database and one ``WorkerGroup`` and returns its measured figures; the test
(test_chaos_notify.py) runs both in the background while scenario 3 runs (~30 s each). A killed
sender's claim does not wait out its lease (``LEASE_MIN_SECONDS``, 90 s): the redelivery sees the
holder process gone from this host and takes the claim over (delivery.py, lease_holder.py); the
settle timeout still allows for the lease.

- ``run_child_kill`` (A): a pool child is killed three times while the slow receiver holds its
  request, then once more the instant the receiver has answered, before the worker can record the
  send as done (the documented at-least-once window).
- ``run_main_kill`` (B): the worker's main process is killed while both children send; Celery gives
  pool children PR_SET_PDEATHSIG=SIGKILL, so they die with it. A replacement worker, started once
  the broker's visibility timeout has passed, restores the unacknowledged messages.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import psutil
import redis

from graphwiz_monitoring.alerting.delivery import LEASE_MIN_SECONDS, read_notification_counts
from graphwiz_monitoring.celery import liveness as consumer_liveness
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import wait_until
from tests.fakes.chaos_endpoints import SlowReceiver
from tests.fakes.notify_fixtures import config_yaml, enqueue, make_settings, put_alert
from tests.fakes.pool_kill import WorkerGroup, alive, kill9, owner_of_port, pool_children, wait_replaced

CONCURRENCY = 2
A_ALERTS, A_KILLS, A_SLOW_SECONDS = 20, 3, 1.5
B_ALERTS, B_SLOW_SECONDS = 10, 1.0
# A dead worker's messages come back once its heartbeat key expires and a worker's restore pass runs
# (celery/liveness.py), not after the visibility timeout (default 20 min, kept here).
B_REQUEUE_MAX_SECONDS = consumer_liveness.ALIVE_TTL_SECONDS + 10 + 5
SETTLE_TIMEOUT_SECONDS = LEASE_MIN_SECONDS + 60
LOST_RE = re.compile(r"WorkerLostError\('Worker exited prematurely: signal 9")


class Aborted(RuntimeError):
    """Raised inside a background run when its test module is torn down early."""


def until(predicate: Callable[[], Any], abort: threading.Event, **kwargs: Any) -> Any:
    """``wait_until`` that gives up at once when ``abort`` is set."""

    def check() -> Any:
        if abort.is_set():
            raise Aborted("torn down")
        return predicate()

    return wait_until(check, **kwargs)


def worker_args(name: str, *extra: str) -> tuple[str, ...]:
    return ("worker", "-Q", "notify.webhook", "-c", str(CONCURRENCY), "-n", f"{name}@%h", "--loglevel", "INFO",
            "--without-mingle", "--without-gossip", *extra)


def webhook_section(url: str) -> dict[str, Any]:
    # Timeout above the receiver's delay; unlimited rate so that the kills, not the limiter, set the pace.
    return {"log": {"level": "WARNING"},
            "webhook": {"url": url, "timeout_seconds": 5, "rate_limit": None, "max_retries": 5,
                        "retry_backoff_seconds": 0.1, "retry_backoff_max_seconds": 1}}


def settled(store: Store, keys: KeySpace, url: str, alert_ids: list[str]) -> bool:
    """Every record final, nothing queued, unacknowledged or waiting for its ETA."""
    states = {store.r.hget(keys.delivery(a, "webhook", "firing"), "state") for a in alert_ids}
    client = redis.Redis.from_url(url)
    try:
        return states == {"done"} and client.llen("notify.webhook") == 0 and client.hlen("unacked") == 0
    finally:
        client.close()


def summary(fake: SlowReceiver, alert_ids: list[str], store: Store, keys: KeySpace) -> dict[str, Any]:
    per_alert = Counter(r.alert_id for r in fake.delivered())
    return {"requests": len(fake.received()), "aborted": sum(1 for r in fake.received() if r.aborted),
            "delivered": sum(per_alert.values()), "duplicated_alerts": sorted(a for a, n in per_alert.items() if n > 1),
            "duplicates": sum(n - 1 for n in per_alert.values() if n > 1),
            "all_ids": sorted(per_alert) == sorted(alert_ids),
            "sent_counter": read_notification_counts(store, keys).get(("webhook", "sent"), 0)}


def kill_after_answer(fake: SlowReceiver, main_pid: int, abort: threading.Event) -> dict[str, Any]:
    """The duplicate window on purpose: kill the sender the instant the receiver has answered it."""
    late: dict[str, Any] = {}
    chosen = threading.Lock()  # the receiver answers two sends at once from two threads: pick one only

    def hook(req: Any) -> Any:
        with chosen:
            owner = None if late else owner_of_port(pool_children(main_pid), req.client_port)
            if owner is None:
                return None
            late.update(alert_id=req.alert_id, pid=owner.pid)
        return lambda: late.update(at=kill9(owner.pid))

    fake.after_answer = hook
    until(lambda: "at" in late, abort, timeout=30, message="a send answered and its sender killed")
    fake.after_answer = None
    wait_replaced(main_pid, late["pid"], CONCURRENCY)
    return late


def run_child_kill(group: WorkerGroup, url: str, abort: threading.Event) -> dict[str, Any]:
    fake = SlowReceiver(A_SLOW_SECONDS).start()
    store = Store(url)
    try:
        notifications = webhook_section(fake.url)
        worker = group.start(*worker_args("chaos-a"), config_extra=config_yaml(notifications))
        main = worker.proc.pid
        settings = make_settings(url, notifications)
        keys = KeySpace(settings.redis.namespace)
        alert_ids = [put_alert(store, keys, labels={"n": str(i)}).alert_id for i in range(A_ALERTS)]
        for alert_id in alert_ids:
            enqueue(settings, alert_id, "webhook")
        kills = []
        for _ in range(A_KILLS):
            def victim() -> tuple[Any, psutil.Process] | None:
                for req in fake.in_flight():  # waiting a while for its answer: the kill lands mid-send
                    if time.monotonic() - req.arrived > A_SLOW_SECONDS / 3:
                        owner = owner_of_port(pool_children(main), req.client_port)
                        if owner is not None:
                            return req, owner
                return None

            req, owner = until(victim, abort, timeout=30, interval=0.02, message="a send in flight")
            kills.append({"alert_id": req.alert_id, "at": kill9(owner.pid)})
            wait_replaced(main, owner.pid, CONCURRENCY)
        late = kill_after_answer(fake, main, abort)
        # Requeued at once (reject_on_worker_lost), but the claims are still leased to the dead sends.
        states = {store.r.hget(keys.delivery(k["alert_id"], "webhook", "firing"), "state") for k in kills}
        late_state = store.r.hget(keys.delivery(late["alert_id"], "webhook", "firing"), "state")
        until(lambda: settled(store, keys, url, alert_ids), abort, timeout=SETTLE_TIMEOUT_SECONDS, interval=0.2,
              message="A: every notification settled")
        answered = {a: sorted(r.answered for r in fake.delivered() if r.alert_id == a) for a in alert_ids}
        late_answers = answered[late["alert_id"]]
        return {
            "alerts": A_ALERTS, "kills_mid_send": len(kills), **summary(fake, alert_ids, store, keys),
            "aborted_are_killed": sorted(r.alert_id for r in fake.received() if r.aborted)
            == sorted(k["alert_id"] for k in kills),
            "states_after_kill": sorted(map(str, states)),
            "redelivered_after_s": [round(answered[k["alert_id"]][0] - k["at"], 1) for k in kills],
            "late_kill_state": late_state, "late_alert": late["alert_id"],
            "late_resent_after_s": round(late_answers[-1] - late["at"], 1) if len(late_answers) > 1 else None,
            "lost_in_log": len(LOST_RE.findall(worker.output())),
        }
    finally:
        fake.stop()
        store.close()


def run_main_kill(group: WorkerGroup, url: str, abort: threading.Event, *pool: str) -> dict[str, Any]:
    """B: the worker's main process killed mid-send. ``pool`` adds worker options: ``--pool threads`` is how
    `graphwiz-monitoring run` sends (its notify worker), where the sends run in the main process itself."""
    fake = SlowReceiver(B_SLOW_SECONDS).start()
    store = Store(url)
    try:
        notifications = webhook_section(fake.url)
        broker = {"url": url}
        extra = config_yaml(notifications, redis=broker)
        first = group.start(*worker_args("chaos-b1", *pool), config_extra=extra)
        settings = make_settings(url, notifications, redis=broker)
        keys = KeySpace(settings.redis.namespace)
        alert_ids = [put_alert(store, keys, labels={"n": str(i)}).alert_id for i in range(B_ALERTS)]
        for alert_id in alert_ids:
            enqueue(settings, alert_id, "webhook")
        until(lambda: len(fake.in_flight()) == CONCURRENCY, abort, timeout=30, interval=0.02,
              message="B: both children sending")
        children = pool_children(first.proc.pid)
        in_flight = sorted(r.alert_id for r in fake.in_flight())
        killed_at = kill9(first.proc.pid)
        until(lambda: not any(alive(child) for child in children), abort, timeout=30, message="B: children gone")
        children_gone = time.monotonic() - killed_at
        with redis.Redis.from_url(url) as client:
            unacked = client.hlen("unacked")
        # A supervisor (``graphwiz-monitoring run``, systemd) starts a replacement at once; it requeues
        # the dead worker's messages once that worker's heartbeat key has expired.
        group.start(*worker_args("chaos-b2", *pool), config_extra=extra)
        until(lambda: settled(store, keys, url, alert_ids), abort, timeout=SETTLE_TIMEOUT_SECONDS, interval=0.2,
              message="B: every notification settled")
        last = max(r.answered for r in fake.delivered())
        return {"alerts": B_ALERTS, "children_gone_s": round(children_gone, 2), "unacked_after_kill": unacked,
                "all_delivered_after_s": round(last - killed_at, 1), **summary(fake, alert_ids, store, keys),
                "aborted_were_in_flight": sorted(r.alert_id for r in fake.received() if r.aborted) == in_flight}
    finally:
        fake.stop()
        store.close()
