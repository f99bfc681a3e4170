"""A trader's own plain Celery app enqueues record_trade by name (no routes: Celery's default queue
``celery``): the ingest worker that `graphwiz-monitoring run` starts consumes that queue and counts
the trade exactly once. Each queue's live consumers are exported, so a task of ours waiting in a
queue nobody consumes shows (``graphwiz_celery_queue_consumers`` 0; rule graphwiz_queue_unconsumed).

One worker for the module, started with the queues `run` gives its detection worker.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

from graphwiz_monitoring import tasks
from graphwiz_monitoring.celery import create_app
from graphwiz_monitoring.cli import supervisor
from graphwiz_monitoring.config import Settings, parse_settings
from graphwiz_monitoring.exporter.collector import GraphwizCollector
from graphwiz_monitoring.exporter.exposition import render
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import CeleryProcess, RedisServer, child_env, wait_until, write_config

pytestmark = pytest.mark.e2e

TRADE = {"symbol": "BTC/USDT", "side": "buy", "price": 50000, "quantity": 0.1, "success": True, "pnl": 1.5,
         "exchange": "binance"}
DEFAULT_QUEUE = "celery"  # where Celery puts a task when its app knows no routes
KOMBU_UNACKED = "unacked"
WORKER_HOST = "foreign-trader-test-worker"  # the host name its system metrics are stored under  # kombu's hash of messages taken by a worker and not yet acknowledged


class Deployment:
    def __init__(self, url: str, settings: Settings, worker: CeleryProcess, queues: list[str]) -> None:
        self.url, self.settings, self.worker, self.queues = url, settings, worker, queues
        self.store, self.keys = Store(url), KeySpace()

    def total_trades(self) -> int:
        return int(self.store.r.hget(self.keys.trading_agg, "total_trades") or 0)

    def drained(self) -> bool:
        """Nothing waits in `celery` and nothing is held unacknowledged: no task can still run."""
        return tasks.queue_length(self.store, DEFAULT_QUEUE) == 0 and self.store.r.hlen(KOMBU_UNACKED) == 0

    def scrape(self) -> dict[str, dict[str, float]]:
        text = render(GraphwizCollector(self.store, self.keys, self.settings).collect()).decode()
        out: dict[str, dict[str, float]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if "queue" in sample.labels:
                    out.setdefault(sample.name, {})[sample.labels["queue"]] = sample.value
        return out


@pytest.fixture(scope="module")
def deployment(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    url = redis_server.clean()
    tmp = tmp_path_factory.mktemp("foreign-trader")
    settings = parse_settings({"redis": {"url": url}}, env={})
    # The queues of the worker `graphwiz-monitoring run` starts for detection (its -Q), without its beat.
    spec = next(c for c in supervisor.build_children(settings, demo=False, config_args=[], state_dir=tmp)
                if c.name == "worker")
    queues = spec.argv[spec.argv.index("-Q") + 1]
    env = child_env(write_config(tmp / "monitoring.yaml", url), url, tmp / "state")
    env["GRAPHWIZ_HOST"] = WORKER_HOST
    worker = CeleryProcess(["worker", "-Q", queues, "-c", "1", "-n", "foreign@%h", "--loglevel", "INFO",
                            "--without-gossip", "--without-mingle", "--without-heartbeat"], env, Path(tmp / "worker.log"))
    wait_until(lambda: "ready." in worker.output() or not worker.alive(), timeout=30, message="worker ready")
    assert worker.alive(), worker.output()[-3000:]
    d = Deployment(url, settings, worker, queues.split(","))
    yield d
    worker.stop()
    d.store.close()


def test_run_consumes_celerys_default_queue_beside_ingest(deployment: Deployment) -> None:
    assert tasks.INGEST in deployment.queues and DEFAULT_QUEUE in deployment.queues
    assert tasks.CELERY_DEFAULT == DEFAULT_QUEUE


def test_a_plain_celery_app_sending_by_name_is_counted_exactly_once(deployment: Deployment) -> None:
    foreign = Celery(broker=deployment.url)  # the trader's own app: no routes, no queues configured
    try:
        before = deployment.total_trades()
        foreign.send_task("workers.ingest.record_trade", args=[TRADE])
        wait_until(lambda: deployment.total_trades() == before + 1, timeout=15,
                   message=f"record_trade counted (worker log: {deployment.worker.log})")
        foreign.send_task("workers.ingest.record_trades", args=[[TRADE, {**TRADE, "side": "sell"}]])
        wait_until(lambda: deployment.total_trades() == before + 3, timeout=15, message="record_trades counted")
        wait_until(deployment.drained, timeout=15, message="celery queue drained and acknowledged")
        assert deployment.total_trades() == before + 3  # once each: nothing left that could count again
    finally:
        foreign.close()


def test_another_of_our_tasks_landing_in_celery_still_runs_and_an_unknown_one_is_logged(
        deployment: Deployment) -> None:
    store, keys = deployment.store, deployment.keys
    foreign = Celery(broker=deployment.url)
    try:
        assert not store.r.exists(keys.host_system(WORKER_HOST))  # no beat here: only this task writes it
        foreign.send_task(tasks.COLLECT_SYSTEM_METRICS)  # lands in `celery`, not in `metrics`
        wait_until(lambda: store.r.exists(keys.host_system(WORKER_HOST)), timeout=15,
                   message="collect_system_metrics sent to `celery` ran")
        foreign.send_task("bot.not_a_graphwiz_task", args=[1])
        wait_until(lambda: "Received unregistered task of type 'bot.not_a_graphwiz_task'" in deployment.worker.output(),
                   timeout=15, message="the unknown task named in the worker's log")
        wait_until(deployment.drained, timeout=15, message="the unknown task rejected, not left waiting")
        assert deployment.worker.alive()
    finally:
        foreign.close()


def test_queue_consumers_are_exported_and_a_queue_nobody_consumes_shows_zero(deployment: Deployment) -> None:
    app = create_app(deployment.settings)
    try:
        # Our own routing: a recovery task goes to `recovery`, which this worker does not consume.
        app.send_task(tasks.RUN_RECOVERY, args=["no_such_check"], retry=False)
        scraped = deployment.scrape()
        assert scraped["graphwiz_celery_queue_length"][tasks.RECOVERY] == 1
        consumers = scraped.get("graphwiz_celery_queue_consumers", {})
        assert consumers.get(tasks.RECOVERY) == 0, consumers
        for queue in deployment.queues:  # ingest, celery, metrics, rules, health
            assert consumers.get(queue, 0) >= 1, (queue, consumers)
        assert set(consumers) == set(tasks.ALL_QUEUES)
    finally:
        app.close()


def test_a_queue_the_worker_stops_consuming_stops_counting_it(deployment: Deployment) -> None:
    app = create_app(deployment.settings)
    try:
        replies = app.control.cancel_consumer(tasks.HEALTH, destination=[f"foreign@{socket.gethostname()}"],
                                              reply=True, timeout=5)
        assert replies, "the worker answered the cancel_consumer command"
        wait_until(lambda: deployment.scrape()["graphwiz_celery_queue_consumers"][tasks.HEALTH] == 0, timeout=15,
                   interval=0.2, message="health no longer counted after cancel_consumer (next heartbeat)")
        assert deployment.scrape()["graphwiz_celery_queue_consumers"][tasks.INGEST] >= 1
    finally:
        app.close()


def test_a_stopped_workers_queues_show_no_consumer(deployment: Deployment) -> None:
    """Last in the module: stops the shared worker."""
    deployment.worker.stop()
    scraped = deployment.scrape()
    assert all(scraped["graphwiz_celery_queue_consumers"][q] == 0 for q in deployment.queues), scraped
