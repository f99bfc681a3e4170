"""Sustained load (issue 7, scenario 5): 2,000 trades/s, 1 alert/s and all 8 health checks for minutes.

Run: ``.venv/bin/python bench/load.py [--minutes 5] [--rate 2000]``. It starts its own redis-server (AOF
everysec, noeviction) on a free port, an ingest worker (``-Q ingest,metrics,rules -c 2``), a second
worker for health checks, recovery and notifications with the beat embedded (``-B``), a loopback
webhook receiver, and a trader process: a ``TradingMonitor`` (started: control listener and status
reporter run too) recording ``--rate`` trades/s and creating one manual alert per second on the
webhook channel. Retention is small (``trades_max_count`` 50,000, trade and alert history 2 min) so
that trimming runs during the benchmark. Then it prints each figure beside its target:

- trades recorded vs counted in Redis (exact), alerts created vs delivered (exact, no duplicates);
- ingest latency p50/p99: ``record_trade()`` call to the trade counted in Redis (1 trade in 100 is
  sampled; the bench polls its id every 10 ms);
- alert delivery latency p50/p99: ``create_manual_alert()`` call to the POST at the webhook receiver;
- Redis ``used_memory`` and the RSS of the workers (main + pool + beat processes) and of the trader
  every 10 s, with their slope once the retention windows are full: flat means no unbounded growth
  and no leak;
- health check runs per check against the schedule, the ingest queue's largest backlog.
"""

from __future__ import annotations

import argparse
import array
import json
import multiprocessing as mp
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from graphwiz_monitoring.config import DEFAULT_CHECKS  # noqa: E402
from graphwiz_monitoring.state import KeySpace, Store  # noqa: E402

RETENTION_SECONDS = 120  # trades_max_age_hours and alerts.history_retention_hours, as seconds
TRADES_MAX_COUNT = 50_000
SAMPLE_EVERY = 100  # 1 trade in 100 is timed from record_trade() to counted
SAMPLE_SECONDS = 10.0  # Redis memory and worker RSS
POLL_SECONDS = 0.01
WARMUP_SECONDS = 60.0  # RSS slope ignores the first minute (imports, caches, pools filling)
CHECK_INTERVALS = {name: (2.0 if name == "api_rate_limits" else 5.0) for name in DEFAULT_CHECKS}
TARGETS = {"ingest_p50": 0.100, "ingest_p99": 0.250, "alert_p50": 0.100, "alert_p99": 0.300,
           "redis_growth": 0.05, "rss_slope_mib_min": 0.5}
TRADE = {"symbol": "BTC/USDT", "side": "buy", "price": 50_000.0, "quantity": 0.01, "exchange": "binance"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class CallTimes:
    """Histogram of call durations in 0.1 µs bins (constant memory: the trader's RSS must show the
    monitor, not the bench's own bookkeeping), plus the maximum."""

    BIN_SECONDS, BINS = 1e-7, 100_000  # up to 10 ms; slower calls land in the last bin

    def __init__(self) -> None:
        self.counts = array.array("q", bytes(8 * (self.BINS + 1)))
        self.max = 0.0

    def add(self, seconds: float) -> None:
        self.counts[min(self.BINS, int(seconds / self.BIN_SECONDS))] += 1
        if seconds > self.max:
            self.max = seconds

    def percentile(self, q: float) -> float:
        rank, seen = q * sum(self.counts), 0
        for i, n in enumerate(self.counts):
            seen += n
            if seen > rank:
                return (i + 0.5) * self.BIN_SECONDS
        return self.max


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


# ------------------------------------------------------------------ trader process
def trader_main(config: str, rate: int, seconds: float, samples: Any, results: Any) -> None:
    """The trader: record ``rate`` trades/s and one alert/s for ``seconds``; report what was done."""
    import asyncio

    from graphwiz_monitoring import create_monitor
    from graphwiz_monitoring.config import load_settings

    monitor = create_monitor(load_settings(config, env={}))
    durations = CallTimes()
    alerts: list[str] = []
    errors: list[str] = []
    stop = threading.Event()

    def alert_loop() -> None:
        n = 0
        while not stop.wait(1.0 - (time.time() % 1.0)):  # on the second
            n += 1
            try:
                created = time.time()
                alert = monitor.create_manual_alert(f"load alert {n}", "bench", "warning", ["webhook"],
                                                    {"bench_created": created})
                alerts.append(alert.alert_id)
            except Exception as exc:  # counted: the bench reports it
                errors.append(f"alert: {type(exc).__name__}: {exc}"[:200])

    async def main() -> int:
        await monitor.start()
        threading.Thread(target=alert_loop, daemon=True).start()
        per_tick, tick = max(1, rate // 100), 0.01
        n, clock, started = 0, time.perf_counter, time.monotonic()
        next_tick = started
        while time.monotonic() - started < seconds:
            for _ in range(per_tick):
                n += 1
                trade = TRADE if n % SAMPLE_EVERY else {**TRADE, "trade_id": f"load-{n}"}
                t0 = clock()
                wall = time.time()
                try:
                    monitor.record_trade(trade)
                except Exception as exc:
                    errors.append(f"record_trade: {type(exc).__name__}: {exc}"[:200])
                durations.add(clock() - t0)
                if n % SAMPLE_EVERY == 0:
                    samples.put((f"load-{n}", wall))
            next_tick += tick
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
        stop.set()
        elapsed = time.monotonic() - started
        delivered = await asyncio.to_thread(monitor.flush, 120.0)
        await monitor.stop()
        results.put({"trades": n, "elapsed": elapsed, "alerts": alerts, "errors": errors[:20],
                     "error_count": len(errors), "flushed": delivered,
                     "call_p50": durations.percentile(0.5), "call_p99": durations.percentile(0.99),
                     "call_max": durations.max})
        return n

    asyncio.run(main())


# ------------------------------------------------------------------ bench process
class Receiver:
    """Loopback webhook: arrival time and payload of every POST."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.end_headers()
                outer.arrivals.append((arrived, json.loads(body or b"{}")))

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bench_alerts(self) -> dict[str, list[float]]:
        """alert id -> latency of each POST of it (several = duplicates)."""
        out: dict[str, list[float]] = {}
        for arrived, payload in list(self.arrivals):
            created = (payload.get("metadata") or {}).get("bench_created")
            if created is not None and payload.get("kind") == "firing":
                out.setdefault(payload["alert_id"], []).append(arrived - float(created))
        return out


class Sampler(threading.Thread):
    """Polls sampled trade ids until counted (ingest latency)."""

    def __init__(self, store: Store, keys: KeySpace, samples: Any) -> None:
        super().__init__(daemon=True)
        self.store, self.keys, self.samples = store, keys, samples
        self.latencies: list[float] = []
        self.pending: dict[str, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not (self.done.is_set() and not self.pending):
            try:
                while True:
                    trade_id, wall = self.samples.get_nowait()
                    self.pending[trade_id] = wall
            except queue.Empty:
                pass
            if self.pending:
                ids = list(self.pending)
                now = time.time()
                for trade_id, score in zip(ids, self.store.r.zmscore(self.keys.trade_ids, ids), strict=True):
                    if score is not None:
                        self.latencies.append(now - self.pending.pop(trade_id))
            time.sleep(POLL_SECONDS)


class Services:
    def __init__(self, workdir: Path, receiver_url: str) -> None:
        self.workdir, self.procs = workdir, {}
        port = free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        self._start("redis", [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                              "127.0.0.1", "--dir", str(workdir), "--appendonly", "yes", "--appendfsync",
                              "everysec", "--save", "", "--maxmemory-policy", "noeviction"])
        self.store = Store(self.url)
        wait(self.store.is_available, 10, "redis-server")
        self.config = workdir / "monitoring.yaml"
        hours = RETENTION_SECONDS / 3600
        self.config.write_text(json.dumps({
            "redis": {"url": self.url},
            "monitoring": {"metrics_interval_seconds": 5, "rule_evaluation_interval_seconds": 5},
            "retention": {"trades_max_count": TRADES_MAX_COUNT, "trades_max_age_hours": hours},
            "alerts": {"history_retention_hours": hours},
            "notifications": {"webhook": {"url": receiver_url}},
            "health_checks": {"checks": {n: {"interval_seconds": s} for n, s in CHECK_INTERVALS.items()}},
            "trader": {"journal_dir": str(workdir / "journal")},
        }, indent=2))
        env = {**os.environ, "GRAPHWIZ_CONFIG": str(self.config), "GRAPHWIZ_STATE_DIR": str(workdir / "state"),
               "PYTHONUNBUFFERED": "1"}
        env.pop("GRAPHWIZ_REDIS_URL", None)
        celery = [sys.executable, "-m", "celery", "-A", "graphwiz_monitoring", "worker", "--loglevel", "INFO",
                  "--without-gossip", "--without-mingle"]
        side = "health,recovery," + ",".join(f"notify.{c}" for c in ("webhook", "log", "discord", "slack", "email",
                                                                     "telegram"))
        self._start("ingest", [*celery, "-Q", "ingest,metrics,rules", "-c", "2", "-n", "ingest@%h"], env)
        self._start("side", [*celery, "-Q", side, "-c", "1", "-B", "-n", "side@%h"], env)
        for name in ("ingest", "side"):
            wait(lambda n=name: "ready." in self.log(n), 60, f"{name} worker")

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        out = open(self.workdir / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen(args, cwd=str(ROOT), env=env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def rss(self, trader_pid: int) -> dict[str, int]:
        """RSS of each worker (main + pool + beat processes) and of the trader process."""
        out = {"trader": psutil.Process(trader_pid).memory_info().rss}
        for name in ("ingest", "side"):
            main = psutil.Process(self.procs[name].pid)
            out[name] = main.memory_info().rss + sum(c.memory_info().rss for c in main.children(recursive=True))
        return out

    def stop(self) -> None:
        for proc in reversed(self.procs.values()):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs.values()):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.store.close()


def key_census(store: Store) -> dict[str, tuple[int, int]]:
    """Keys and bytes (MEMORY USAGE) per concept (``graphwiz:<concept>:...``, or a broker key)."""
    census: dict[str, tuple[int, int]] = {}
    for key in store.r.scan_iter(count=1000):
        parts = key.split(":")
        concept = ":".join(parts[:2]) if parts[0] == "graphwiz" and len(parts) > 1 else parts[0][:30]
        n, size = census.get(concept, (0, 0))
        census[concept] = (n + 1, size + int(store.r.memory_usage(key) or 0))
    return census


def check_runs(log: str) -> dict[str, int]:
    runs = {name: 0 for name in CHECK_INTERVALS}
    for line in log.splitlines():
        if "workers.health.run_check[" in line and "succeeded" in line:
            for name in runs:
                if f"'name': '{name}'" in line:
                    runs[name] += 1
    return runs


def report(args: argparse.Namespace, res: dict[str, Any], counted: int, sampler: Sampler,
           alerts: dict[str, list[float]], memory: list[tuple[float, int]], rss: list[tuple[float, dict[str, int]]],
           runs: dict[str, int], backlog: int, seconds: float, census: dict[str, tuple[int, int]]) -> bool:
    ms, mib = 1000.0, 2 ** 20
    ing, firsts = sampler.latencies, [min(v) for v in alerts.values()]
    duplicates = sum(len(v) - 1 for v in alerts.values())
    full = [(t, m) for t, m in memory if t >= 1.5 * RETENTION_SECONDS]  # trim_history runs each minute
    growth = (full[-1][1] - full[0][1]) / full[0][1] if len(full) >= 2 else float("nan")
    warm = [(t, r) for t, r in rss if t >= WARMUP_SECONDS]
    slopes = {n: slope_per_minute([(t, r[n] / mib) for t, r in warm]) for n in ("ingest", "side", "trader")}
    rows = [
        ("trades recorded / counted", f"{res['trades']:,} / {counted:,}", "equal"),
        ("trade rate sustained", f"{res['trades'] / res['elapsed']:,.0f}/s", f"{args.rate:,}/s"),
        ("record_* raised", f"{res['error_count']}", "0"),
        ("record_trade() p50 / p99 / max", f"{res['call_p50'] * 1e6:.1f} / {res['call_p99'] * 1e6:.1f} µs / "
                                            f"{res['call_max'] * ms:.1f} ms", "<= 10 / 100 µs (bench/ingest.py)"),
        ("ingest latency p50 / p99", f"{pct(ing, .5) * ms:.0f} / {pct(ing, .99) * ms:.0f} ms (n={len(ing)})",
         f"<= {TARGETS['ingest_p50'] * ms:.0f} / {TARGETS['ingest_p99'] * ms:.0f} ms"),
        ("alerts created / delivered / dup", f"{len(res['alerts'])} / {len(set(res['alerts']) & set(alerts))} / "
                                             f"{duplicates}", "equal, 0 duplicates"),
        ("alert delivery p50 / p99", f"{pct(firsts, .5) * ms:.0f} / {pct(firsts, .99) * ms:.0f} ms",
         f"<= {TARGETS['alert_p50'] * ms:.0f} / {TARGETS['alert_p99'] * ms:.0f} ms"),
        ("Redis used_memory min / max", f"{min(m for _, m in memory) / mib:.1f} / {max(m for _, m in memory) / mib:.1f}"
                                        f" MiB", ""),
        ("  growth once retention is full", f"{growth * 100:+.1f} % ({full[0][1] / mib:.1f} -> "
                                            f"{full[-1][1] / mib:.1f} MiB)" if full else "n/a (run longer)",
         f"|growth| <= {TARGETS['redis_growth'] * 100:.0f} %"),
        *[(f"RSS {n} at 1 min / end", f"{warm[0][1][n] / mib:.1f} / {rss[-1][1][n] / mib:.1f} MiB, "
                                           f"slope {slopes[n]:+.2f} MiB/min", f"slope <= {TARGETS['rss_slope_mib_min']}"
                                                                              " MiB/min") for n in slopes],
        ("ingest queue backlog, max", f"{backlog}", "small"),
        *[(f"health {n} runs", f"{runs[n]}", f"~{seconds / CHECK_INTERVALS[n]:.0f}") for n in runs],
    ]
    print(f"\n{'figure':<36}{'measured':<46}target")
    for name, value, target in rows:
        print(f"{name:<36}{value:<46}{target}")
    print("\nRedis used_memory (MiB) every 10 s: " + " ".join(f"{m / mib:.1f}" for _, m in memory))
    print("keys at the end (count, KiB): " + ", ".join(
        f"{c} {n} {b / 1024:.0f}" for c, (n, b) in sorted(census.items(), key=lambda i: -i[1][1])))
    for name in ("ingest", "side", "trader"):
        print(f"RSS {name} (MiB) every 10 s: " + " ".join(f"{r[name] / mib:.1f}" for _, r in rss))
    ok = (counted == res["trades"] and res["error_count"] == 0 and set(res["alerts"]) <= set(alerts)
          and duplicates == 0 and pct(ing, .5) <= TARGETS["ingest_p50"] and pct(ing, .99) <= TARGETS["ingest_p99"]
          and pct(firsts, .5) <= TARGETS["alert_p50"] and pct(firsts, .99) <= TARGETS["alert_p99"]
          and (not full or abs(growth) <= TARGETS["redis_growth"])
          and all(s <= TARGETS["rss_slope_mib_min"] for s in slopes.values()))
    print("\nall targets met" if ok else "\nsome targets NOT met")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=2000, help="trades per second")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs) afterwards")
    args = parser.parse_args()
    seconds = args.minutes * 60
    workdir = Path(tempfile.mkdtemp(prefix="graphwiz-load-"))
    print(f"graphwiz sustained load: {args.rate:,} trades/s + 1 alert/s + 8 health checks for "
          f"{args.minutes:g} min ({os.cpu_count()} cores); work dir {workdir}", flush=True)
    receiver = Receiver()
    services = Services(workdir, receiver.url)
    keys = KeySpace()
    ctx = mp.get_context("spawn")
    samples, results = ctx.Queue(), ctx.Queue()
    trader = ctx.Process(target=trader_main, args=(str(services.config), args.rate, seconds, samples, results))
    sampler = Sampler(Store(services.url), keys, samples)
    memory: list[tuple[float, int]] = []
    rss: list[tuple[float, dict[str, int]]] = []
    backlog = 0
    try:
        sampler.start()
        trader.start()
        started = time.monotonic()
        next_sample = started
        res, sampling = None, True
        while res is None:
            backlog = max(backlog, int(services.store.r.llen("ingest")))
            if sampling and time.monotonic() >= next_sample:
                t = time.monotonic() - started
                try:
                    rss.append((t, services.rss(trader.pid)))
                except psutil.Error:  # the trader is finishing: no sample from now on
                    sampling = False
                    continue
                memory.append((t, int(services.store.r.info("memory")["used_memory"])))
                if len(memory) % 6 == 0:
                    print(f"  {t / 60:4.1f} min: Redis {memory[-1][1] / 2**20:.1f} MiB, workers "
                          f"{(rss[-1][1]['ingest'] + rss[-1][1]['side']) / 2**20:.0f} MiB, trader "
                          f"{rss[-1][1]['trader'] / 2**20:.0f} MiB, ingest latencies {len(sampler.latencies)}",
                          flush=True)
                next_sample += SAMPLE_SECONDS
            try:
                res = results.get(timeout=0.5)
            except queue.Empty:
                if not trader.is_alive():
                    raise SystemExit(f"the trader process died (exit code {trader.exitcode})") from None
        counted = lambda: int(services.store.r.hget(keys.trading_agg, "total_trades") or 0)  # noqa: E731
        wait(lambda: counted() >= res["trades"], 120, "every trade counted")
        wait(lambda: set(res["alerts"]) <= set(receiver.bench_alerts()), 60, "every alert delivered")
        time.sleep(2)  # late duplicates would arrive now
        sampler.done.set()
        sampler.join(timeout=10)
        return 0 if report(args, res, counted(), sampler, receiver.bench_alerts(), memory, rss,
                           check_runs(services.log("side")), backlog, seconds, key_census(services.store)) else 1
    finally:
        trader.join(timeout=30)
        if trader.is_alive():
            trader.kill()
        services.stop()
        receiver.server.shutdown()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
