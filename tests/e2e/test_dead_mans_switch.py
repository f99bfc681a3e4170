"""The dead-man's switch and the self-monitoring rules with real processes (issue 15, items 3 and 5).

One beat, a worker for ingest + rules and a worker for notify.log run against the session Redis (started
once for the module; the tests run in order). ``monitoring.heartbeat_url`` points at a loopback webhook
receiver and is pinged every second while the pipeline is alive; the notify worker stopped, the pings
stop within two intervals, and the built-in rule ``queue_unconsumed`` fires for notify.log, where the
heartbeat tasks now wait with no consumer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphwiz_monitoring.alerting.records import load_alerts
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import CeleryProcess, RedisServer, child_env, one_check_config, wait_until, write_config
from tests.fakes.chat_apis import WebhookReceiver

INTERVAL_SECONDS = 1.0
SECRET = WebhookReceiver.PATH.rsplit("/", 1)[-1]


class Pipeline:
    def __init__(self, server: RedisServer, workdir: Path) -> None:
        server.flush()
        self.receiver = WebhookReceiver().start()
        self.store, self.keys = Store(server.url), KeySpace()
        config = one_check_config("api_rate_limits", 3600, rule_interval=INTERVAL_SECONDS).replace(
            "monitoring:\n", f"monitoring:\n  heartbeat_url: {self.receiver.url}\n"
                             f"  heartbeat_interval_seconds: {INTERVAL_SECONDS:g}\n", 1)
        config += "beat:\n  failover_seconds: 5\nalerts:\n  rules:\n    queue_unconsumed: {for_seconds: 0}\n"
        path = write_config(workdir / "monitoring.yaml", server.url, config)
        env = child_env(path, server.url, workdir / "state")
        common = ("-c", "1", "--loglevel", "INFO", "--without-mingle", "--without-gossip")
        self.procs = {
            "beat": CeleryProcess(["beat", "--loglevel", "INFO"], env, workdir / "beat.log"),
            "worker": CeleryProcess(["worker", "-Q", "ingest,celery,rules", *common], env, workdir / "worker.log"),
            "notify": CeleryProcess(["worker", "-Q", "notify.log", *common], env, workdir / "notify.log"),
        }

    def pings(self) -> list[float]:
        """When each ping arrived (monotonic clock)."""
        return [r.arrived for r in self.receiver.received()]

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        self.receiver.stop()
        self.store.close()


@pytest.fixture(scope="module")
def pipeline(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    started = Pipeline(redis_server, tmp_path_factory.mktemp("deadman"))
    try:
        yield started
    finally:
        started.stop()


def test_the_heartbeat_url_is_pinged_every_interval_while_the_whole_pipeline_runs(pipeline: Pipeline) -> None:
    pings = wait_until(lambda: len(pipeline.pings()) >= 4 and pipeline.pings(), timeout=40, message="four pings")
    gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
    assert all(0.5 * INTERVAL_SECONDS < gap < 1.6 * INTERVAL_SECONDS for gap in gaps), gaps  # one per interval
    assert all(r.method == "GET" and r.status == 200 for r in pipeline.receiver.received())
    for name, proc in pipeline.procs.items():  # the URL is a secret: in no log line
        assert SECRET not in proc.output(), name
    print(f"\ndead-man's switch: pings {' '.join(f'{g:.2f}s' for g in gaps)} apart (interval {INTERVAL_SECONDS:g}s)")


def test_the_pings_stop_within_two_intervals_of_the_notify_worker_stopping(pipeline: Pipeline) -> None:
    wait_until(lambda: pipeline.pings() and time.monotonic() - pipeline.pings()[-1] < 1.5 * INTERVAL_SECONDS,
               timeout=10, message="pings arriving")
    stopped = time.monotonic()
    pipeline.procs["notify"].stop()
    time.sleep(3 * INTERVAL_SECONDS)
    after = [t - stopped for t in pipeline.pings() if t > stopped]
    print(f"\ndead-man's switch: notify worker stopped; {len(after)} ping(s) after the stop, last "
          f"{max(after, default=0.0):.2f}s after it; none in the following {3 * INTERVAL_SECONDS - max(after, default=0):.1f}s")
    assert max(after, default=0.0) <= 2 * INTERVAL_SECONDS, after


def test_queue_unconsumed_fires_for_the_notify_queue_nobody_consumes_any_more(pipeline: Pipeline) -> None:
    """The heartbeat tasks beat keeps sending wait in notify.log; the rules worker still evaluates every second."""

    def notify_log_alert() -> list[str]:
        active = pipeline.store.r.hgetall(pipeline.keys.alerts_active)
        ids = [alert_id for member, alert_id in active.items() if member.startswith("queue_unconsumed|")]
        return [a.title for a in load_alerts(pipeline.store, pipeline.keys, ids) if a is not None
                and a.labels.get("queue") == "notify.log"]

    titles = wait_until(notify_log_alert, timeout=15, message="queue_unconsumed firing for notify.log")
    assert titles == ["No worker consumes queue notify.log"]
    assert pipeline.store.r.llen("notify.log") > 0
