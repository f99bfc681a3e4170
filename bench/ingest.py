"""Ingest benchmark: trader-side cost, end-to-end throughput, scrape time, worker memory.

Run: ``.venv/bin/python bench/ingest.py [--trades 200000] [--concurrency 2]``. It starts its own
redis-server on a free port and one Celery worker process, and prints each figure beside its baseline:

(a) ``record_trade()`` per call (median, p99) vs. Celery ``delay()``/``send_task`` per trade
(b) end-to-end trades/s, first call to all counted in Redis, vs. one Celery task per trade
    (default trader.batch_max_records 1000, and 5000), with the CPU each process spent per trade
(c) ``/metrics`` scrape time with about 10,000 series
(d) worker RSS (main process + pool children)
Targets (2 cores): (a) median <= 10 µs, p99 <= 100 µs; (b) >= 50,000/s; (c) <= 100 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import requests  # noqa: E402

from graphwiz_monitoring.config import parse_settings  # noqa: E402
from graphwiz_monitoring.exporter.server import ExporterServer  # noqa: E402
from graphwiz_monitoring.metrics import ingest  # noqa: E402
from graphwiz_monitoring.state import KeySpace, Store  # noqa: E402
from graphwiz_monitoring.trader.monitor import create_monitor  # noqa: E402

TRADE = {"symbol": "BTC/USDT", "side": "buy", "price": 50000.0, "quantity": 0.1, "pnl": 1.5, "success": True,
         "exchange": "binance"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Group:
    """CPU times of several processes, summed (the worker's pool children)."""

    def __init__(self, procs: list[psutil.Process]) -> None:
        self.procs = procs

    def cpu_times(self) -> tuple[float, float]:
        times = [p.cpu_times() for p in self.procs]
        return sum(t.user for t in times), sum(t.system for t in times)


class Services:
    """redis-server + one celery worker in a temp dir."""

    def __init__(self, workdir: Path, concurrency: int) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.redis = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(workdir), "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
             "--maxmemory-policy", "noeviction"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.store = Store(self.url)
        wait(self.store.is_available, 10, "redis-server")
        config = workdir / "monitoring.yaml"
        config.write_text(f"redis:\n  url: {self.url}\n", encoding="utf-8")
        env = {**os.environ, "GRAPHWIZ_CONFIG": str(config), "GRAPHWIZ_STATE_DIR": str(workdir / "state"),
               "PYTHONUNBUFFERED": "1"}
        self.log = workdir / "worker.log"
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "graphwiz_monitoring", "worker", "-Q", "ingest",
             "-c", str(concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--without-heartbeat"], cwd=str(ROOT), env=env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        wait(lambda: "ready." in self.log.read_text(errors="replace"), 60, "celery worker")

    def processes(self) -> dict[str, psutil.Process]:
        worker = psutil.Process(self.worker.pid)
        return {"trader": psutil.Process(), "worker main": worker, "worker pool": _Group(worker.children()),
                "redis": psutil.Process(self.redis.pid)}

    def worker_rss(self) -> tuple[int, int]:
        main = psutil.Process(self.worker.pid)
        children = main.children(recursive=True)
        return main.memory_info().rss, sum(c.memory_info().rss for c in children)

    def stop(self) -> None:
        os.killpg(self.worker.pid, signal.SIGTERM)
        try:
            self.worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.worker.pid, signal.SIGKILL)
        self.store.close()
        self.redis.terminate()
        self.redis.wait(timeout=10)


def counted(store: Store, keys: KeySpace) -> int:
    return int(store.r.hget(keys.trading_agg, "total_trades") or 0)


def bench_record_trade(services: Services, workdir: Path, calls: int, batch: int
                       ) -> tuple[list[float], float, dict[str, float]]:
    """Per-call cost of record_trade (ns) while the client ships in the background, the end-to-end rate,
    and the CPU seconds each process spent per trade (µs)."""
    services.store.r.flushall()
    monitor = create_monitor({"redis": {"url": services.url},
                              "trader": {"journal_dir": str(workdir / f"journal-{batch}"),
                                         "buffer_max_records": 1_000_000, "batch_max_records": batch}})
    keys = monitor.keys
    record, clock = monitor.record_trade, time.perf_counter_ns
    monitor.record_trade(TRADE)  # start the client threads and import Celery before timing
    wait(lambda: counted(services.store, keys) == 1, 60, "first trade")
    procs = services.processes()
    cpu_before = {name: sum(p.cpu_times()[:2]) for name, p in procs.items()}
    durations = [0.0] * calls
    started = time.perf_counter()
    for i in range(calls):
        t0 = clock()
        record(TRADE)
        durations[i] = clock() - t0
    wait(lambda: counted(services.store, keys) == calls + 1, 300, "all trades counted")
    elapsed = time.perf_counter() - started
    cpu = {name: (sum(p.cpu_times()[:2]) - cpu_before[name]) / calls * 1e6 for name, p in procs.items()}
    monitor.client.stop()
    return durations, calls / elapsed, cpu


def bench_task_per_trade(services: Services, trades: int) -> tuple[list[float], float]:
    """Baseline: one Celery task per trade (send_task, what delay() does): the per-call cost of publishing
    (to a queue nobody consumes, so the worker does not compete for the CPU), and the end-to-end rate."""
    from graphwiz_monitoring.celery import create_app

    services.store.r.flushall()
    app = create_app(parse_settings({"redis": {"url": services.url}}, env={}))
    keys = KeySpace()
    durations = []
    for _ in range(trades):
        t0 = time.perf_counter_ns()
        app.send_task("workers.ingest.record_trade", args=(TRADE,), queue="bench-unconsumed")
        durations.append(time.perf_counter_ns() - t0)
    services.store.r.delete("bench-unconsumed")
    app.send_task("workers.ingest.record_trade", args=(TRADE,))
    wait(lambda: counted(services.store, keys) == 1, 60, "first task")
    started = time.perf_counter()
    for _ in range(trades):
        app.send_task("workers.ingest.record_trade", args=(TRADE,))
    wait(lambda: counted(services.store, keys) == trades + 1, 600, "baseline trades counted")
    return durations, trades / (time.perf_counter() - started)


def bench_scrape(services: Services, target_series: int = 10_000) -> tuple[list[float], int]:
    """Fill Redis with about ``target_series`` series (exchanges, agents, hosts), time GET /metrics."""
    services.store.r.flushall()
    exchanges, agents = 300, 1100
    settings = parse_settings({"redis": {"url": services.url},
                               "retention": {"max_exchanges": exchanges, "max_agents": agents}}, env={})
    store, keys = services.store, KeySpace()
    records: list[dict] = []
    for e in range(exchanges):  # histogram (17 series) + 4 gauges each
        name = f"exchange{e}"
        records += [{"kind": "latency", "data": {"exchange": name, "seconds": 0.001 * (i % 900)}} for i in range(20)]
        records.append({"kind": "exchange_status", "data": {"exchange": name, "connected": True,
                                                            "rate_limit_remaining": 100}})
        records.append({"kind": "trade", "data": {**TRADE, "exchange": name}})
    for a in range(agents):  # 3 series each
        records.append({"kind": "prediction", "data": {"agent": f"agent{a}", "prediction": 1, "confidence": 0.5,
                                                       "actual_outcome": 1}})
    for n in range(0, len(records), 5000):
        ingest.ingest_batch(store, keys, settings, {"batch_id": f"fill-{n}", "records": records[n:n + 5000]})
    exporter = ExporterServer(settings, host="127.0.0.1", port=0).start()
    try:
        text = requests.get(exporter.url + "/metrics", timeout=30).text
        series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        times = []
        for _ in range(15):
            t0 = time.perf_counter()
            requests.get(exporter.url + "/metrics", timeout=30).raise_for_status()
            times.append(time.perf_counter() - t0)
    finally:
        exporter.stop()
    return times, series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=200_000)
    parser.add_argument("--baseline-trades", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes (one worker)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="graphwiz-bench-"))
    print(f"graphwiz ingest benchmark  ({os.cpu_count()} cores, worker -c {args.concurrency}, "
          f"{args.trades:,} trades)\n", flush=True)
    services = Services(workdir, args.concurrency)
    try:
        rss_idle = services.worker_rss()
        rt, ours_rate, cpu = bench_record_trade(services, workdir, args.trades, 1000)
        _, big_rate, big_cpu = bench_record_trade(services, workdir, args.trades, 5000)
        rss_after = services.worker_rss()
        bt, base_rate = bench_task_per_trade(services, args.baseline_trades)
        scrape, series = bench_scrape(services)
    finally:
        services.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    us = 1000.0
    print(f"{'':38s}{'graphwiz (batched)':>22s}{'one task per trade':>22s}{'target':>14s}")
    print(f"{'(a) trader cost per trade, median':38s}{statistics.median(rt) / us:>19.2f} µs"
          f"{statistics.median(bt) / us:>19.1f} µs{'<= 10 µs':>14s}")
    print(f"{'(a) trader cost per trade, p99':38s}{percentile(rt, 0.99) / us:>19.2f} µs"
          f"{percentile(bt, 0.99) / us:>19.1f} µs{'<= 100 µs':>14s}")
    print(f"{'(b) end-to-end, first call -> counted':38s}{ours_rate:>17,.0f} /s{base_rate:>19,.0f} /s"
          f"{'>= 50,000/s':>14s}")
    print(f"{'    same, trader.batch_max_records 5000':38s}{big_rate:>17,.0f} /s")
    for label, per_trade in (("batch 1000", cpu), ("batch 5000", big_cpu)):
        parts = ", ".join(f"{name} {us:.1f}" for name, us in per_trade.items())
        print(f"    CPU µs per trade, {label}: {parts} (total {sum(per_trade.values()):.1f})")
    print(f"{'(c) /metrics scrape, median (max)':38s}{statistics.median(scrape) * 1000:>13.1f} ms "
          f"({max(scrape) * 1000:.0f}){'':>22s}{'<= 100 ms':>14s}")
    print(f"{'    series in the scrape':38s}{series:>22,d}")
    print(f"{'(d) worker RSS main + pool, idle':38s}{rss_idle[0] / 2**20:>12.1f} + {rss_idle[1] / 2**20:.1f} MiB")
    print(f"{'    after the run':38s}{rss_after[0] / 2**20:>12.1f} + {rss_after[1] / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
