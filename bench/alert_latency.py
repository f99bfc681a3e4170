"""Breach-to-notification latency: graphwiz-monitoring vs Prometheus + Alertmanager, same breaches.

Each round, the trader (``monitor.record_trade`` in this process) books a loss that pushes the
drawdown over ``large_loss``'s threshold (10 % of ``initial_capital_usd``); the time until the webhook
POST reaches a loopback HTTP receiver in this process is one sample. The same breach is scraped by
Prometheus (1 s scrape and evaluation) from the exporter and routed by Alertmanager (group_wait 0) to
the same receiver. A winning trade then ends the breach, and the next round waits for both sides to
report the resolution.

Runs its own redis-server, three ``celery worker`` processes (ingest, rules, notify.webhook), the
exporter, and the Debian ``prometheus`` / ``prometheus-alertmanager`` binaries.

    .venv/bin/python bench/alert_latency.py [--breaches 50] [--no-prometheus] [--flush-interval 0.05] [--storms 5]

``--storms N`` then books N storms: 20 exchanges reported disconnected in one trader batch
(``exchange_disconnect``, grouped by rule within ``alerts.group_interval_seconds``): the latency of
the storm's first notification, and how many webhook messages the storm sends (2: the first alert,
then one grouped message naming the other 19).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
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

INITIAL_CAPITAL_USD = 10_000.0
LOSS_USD = 1_500.0  # 15 % drawdown: over large_loss's 10 %
COOLDOWN_SECONDS = 0.5
WAIT_SECONDS = 15.0
BASELINE = "Prometheus 2.42 + Alertmanager 0.25, 1 s scrape/eval, group_wait 0: median 0.49 s, max 0.96 s " \
           "(REFERENCE.md); target for graphwiz: median <= 100 ms, p99 <= 300 ms"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Receiver:
    """Loopback webhook receiver: /ours (graphwiz webhook channel) and /am (Alertmanager)."""

    def __init__(self) -> None:
        self.ours: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.am: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                arrived = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.end_headers()
                target = outer.ours if self.path.startswith("/ours") else outer.am
                target.put((arrived, json.loads(body or b"{}")))

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def drain(q: queue.Queue[Any]) -> None:
        while not q.empty():
            q.get_nowait()

    @staticmethod
    def next_matching(q: queue.Queue[Any], accept: Any, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                arrived, payload = q.get(timeout=left)
            except queue.Empty:
                return None
            if accept(payload):
                return arrived


class Processes:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")
        proc = subprocess.Popen(args, cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def write_configs(workdir: Path, redis_url: str, receiver: int, exporter: int, am: int,
                  flush_interval: float) -> Path:
    config = workdir / "monitoring.yaml"
    others = ["high_cpu", "high_memory", "high_latency", "rate_limit", "neo4j_disconnect",
              "agent_failure", "risk_limit_breach", "disk_space"]
    config.write_text(json.dumps({
        "redis": {"url": redis_url},
        "monitoring": {"initial_capital_usd": INITIAL_CAPITAL_USD, "prometheus_port": exporter},
        "trader": {"flush_interval_seconds": flush_interval, "journal_dir": str(workdir / "journal")},
        "notifications": {"webhook": {"url": f"http://127.0.0.1:{receiver}/ours", "send_resolved": False,
                                      "rate_limit": {"count": 1000, "per_seconds": 1}}},
        "alerts": {"rules": {"large_loss": {"channels": ["webhook"], "cooldown_seconds": COOLDOWN_SECONDS},
                             "exchange_disconnect": {"channels": ["webhook"], "cooldown_seconds": COOLDOWN_SECONDS},
                             **{n: {"enabled": False} for n in others}}},
    }, indent=2))
    (workdir / "prometheus.yml").write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(workdir / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am}"]}]}]},
        "scrape_configs": [{"job_name": "graphwiz", "static_configs": [{"targets": [f"127.0.0.1:{exporter}"]}]}],
    }))
    (workdir / "rules.yml").write_text(json.dumps({"groups": [{"name": "bench", "interval": "1s", "rules": [
        {"alert": "LargeLoss", "expr": "graphwiz_trading_current_drawdown > 0.1", "for": "0s",
         "labels": {"severity": "critical"}}]}]}))
    (workdir / "alertmanager.yml").write_text(json.dumps({
        "route": {"receiver": "bench", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "1s",
                  "repeat_interval": "1h"},
        "receivers": [{"name": "bench", "webhook_configs": [{"url": f"http://127.0.0.1:{receiver}/am",
                                                             "send_resolved": True}]}],
    }))
    return config


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(name: str, samples: list[float], missed: int) -> str:
    if not samples:
        return f"{name:<34} no samples ({missed} missed)"
    ms = [s * 1000 for s in samples]
    return (f"{name:<34} n={len(ms):<3} median {statistics.median(ms):7.1f} ms   p99 {percentile(ms, 99):7.1f} ms   "
            f"min {min(ms):6.1f}   max {max(ms):7.1f}   missed {missed}")


STORM_EXCHANGES = 20


def run_storms(monitor: Any, receiver: Receiver, storms: int) -> tuple[list[float], list[int]]:
    """``storms`` times: 20 exchanges disconnected in one batch; (first-message latencies, messages per storm)."""
    from graphwiz_monitoring.config.routing import DEFAULT_GROUP_INTERVAL_SECONDS

    firsts: list[float] = []
    counts: list[int] = []
    exchanges = [f"storm{i:02d}" for i in range(STORM_EXCHANGES)]
    for _ in range(storms):
        receiver.drain(receiver.ours)
        t0 = time.perf_counter()
        for exchange in exchanges:  # one flush interval: one batch
            monitor.update_exchange_status(exchange, False)
        got = receiver.next_matching(receiver.ours, lambda p: p.get("rule") == "exchange_disconnect", WAIT_SECONDS)
        if got is not None:
            firsts.append(got - t0)
        time.sleep(DEFAULT_GROUP_INTERVAL_SECONDS + 1.5)  # the window ends; its grouped message follows
        messages = 1 if got is not None else 0
        while not receiver.ours.empty():
            _, payload = receiver.ours.get_nowait()
            messages += payload.get("group") is True or payload.get("rule") == "exchange_disconnect"
        counts.append(messages)
        for exchange in exchanges:
            monitor.update_exchange_status(exchange, True)
        wait_for(lambda: not monitor.get_active_alerts(), WAIT_SECONDS, "the storm's resolution")
        time.sleep(DEFAULT_GROUP_INTERVAL_SECONDS + 0.5)  # a new window for the next storm
    return firsts, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--breaches", type=int, default=50)
    parser.add_argument("--no-prometheus", action="store_true", help="measure graphwiz only")
    parser.add_argument("--flush-interval", type=float, default=0.05,
                        help="trader.flush_interval_seconds (the default config is 0.05)")
    parser.add_argument("--storms", type=int, default=0, help="then N storms of 20 disconnected exchanges")
    args = parser.parse_args()
    with_prom = not args.no_prometheus
    for binary in ["redis-server"] + (["prometheus", "prometheus-alertmanager"] if with_prom else []):
        if shutil.which(binary) is None:
            raise SystemExit(f"{binary} is not installed (apt-get install {binary})")

    workdir = Path(tempfile.mkdtemp(prefix="gw-alert-bench-"))
    procs = Processes(workdir)
    receiver = Receiver()
    redis_port, exporter_port, prom_port, am_port = free_port(), free_port(), free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    config = write_configs(workdir, redis_url, receiver.port, exporter_port, am_port, args.flush_interval)
    env = {**os.environ, "GRAPHWIZ_CONFIG": str(config), "GRAPHWIZ_STATE_DIR": str(workdir / "state"),
           "PYTHONUNBUFFERED": "1"}
    env.pop("GRAPHWIZ_REDIS_URL", None)
    monitor = None
    try:
        procs.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(workdir)])
        wait_for(lambda: port_open(redis_port), 10, "redis-server")
        for queue_name in ("ingest", "rules", "notify.webhook"):
            procs.start(queue_name, [sys.executable, "-m", "celery", "-A", "graphwiz_monitoring", "worker", "-Q",
                                     queue_name, "-P", "solo", "-n", f"{queue_name}@%h", "--loglevel", "INFO"], env)
        for queue_name in ("ingest", "rules", "notify.webhook"):
            wait_for(lambda q=queue_name: "ready." in procs.log(q), 60, f"{queue_name} worker")
        if with_prom:
            procs.start("exporter", [sys.executable, "-m", "graphwiz_monitoring.cli", "exporter", "--port",
                                     str(exporter_port)], env)
            procs.start("alertmanager", ["prometheus-alertmanager", f"--config.file={workdir / 'alertmanager.yml'}",
                                         f"--storage.path={workdir / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
                                         "--cluster.listen-address="])
            procs.start("prometheus", ["prometheus", f"--config.file={workdir / 'prometheus.yml'}",
                                       f"--storage.tsdb.path={workdir / 'prom'}",
                                       f"--web.listen-address=127.0.0.1:{prom_port}"])
            for port, what in ((exporter_port, "exporter"), (am_port, "alertmanager"), (prom_port, "prometheus")):
                wait_for(lambda p=port: port_open(p), 30, what)

        from graphwiz_monitoring import create_monitor
        from graphwiz_monitoring.config import load_settings

        monitor = create_monitor(load_settings(config, env={}))
        monitor.record_trade({"symbol": "BTC/USDT", "side": "buy", "price": 50_000.0, "quantity": 0.01, "pnl": 0.0})
        monitor.flush()
        time.sleep(2.5 if with_prom else 0.3)  # let Prometheus see a calm series first

        rng = random.Random(4)
        ours: list[float] = []
        theirs: list[float] = []
        missed_ours = missed_theirs = 0
        print(f"{args.breaches} breaches (large_loss: drawdown > 10 %), trader flush interval "
              f"{args.flush_interval * 1000:.0f} ms; work dir {workdir}", flush=True)
        for i in range(args.breaches):
            receiver.drain(receiver.ours)
            receiver.drain(receiver.am)
            t0 = time.perf_counter()
            monitor.record_trade({"symbol": "BTC/USDT", "side": "sell", "price": 50_000.0, "quantity": 0.01,
                                  "pnl": -LOSS_USD, "success": False})
            got = receiver.next_matching(receiver.ours, lambda p: p.get("rule") == "large_loss"
                                         and p.get("kind") == "firing", WAIT_SECONDS)
            if got is None:
                missed_ours += 1
            else:
                ours.append(got - t0)
            if with_prom:
                got = receiver.next_matching(receiver.am, lambda p: p.get("status") == "firing", WAIT_SECONDS)
                if got is None:
                    missed_theirs += 1
                else:
                    theirs.append(got - t0)
            monitor.record_trade({"symbol": "BTC/USDT", "side": "buy", "price": 50_000.0, "quantity": 0.01,
                                  "pnl": LOSS_USD, "success": True})
            wait_for(lambda: not monitor.get_active_alerts(), WAIT_SECONDS, "graphwiz resolution")
            if with_prom:
                receiver.next_matching(receiver.am, lambda p: p.get("status") == "resolved", WAIT_SECONDS)
            # The next breach must not fall into large_loss's cooldown; the random part spreads breaches over
            # Prometheus's scrape/evaluation phase (waiting for its resolution would otherwise phase-lock them).
            time.sleep(COOLDOWN_SECONDS + 0.05 + (rng.uniform(0, 1.0) if with_prom else 0))
            if (i + 1) % 10 == 0:
                print(f"  {i + 1} breaches done", flush=True)

        storm_first, storm_messages = run_storms(monitor, receiver, args.storms)

        print()
        print(summary("graphwiz (record_trade -> webhook)", ours, missed_ours))
        if args.storms:
            print(summary("storm: batch -> first message", storm_first, args.storms - len(storm_first)))
            print(f"storm: webhook messages per storm of {STORM_EXCHANGES}: {storm_messages}")
        if with_prom:
            print(summary("Prometheus + Alertmanager", theirs, missed_theirs))
        print(f"baseline: {BASELINE}")
        ok = bool(ours) and statistics.median(ours) <= 0.100 and percentile(ours, 99) <= 0.300 and not missed_ours
        print("graphwiz target met" if ok else "graphwiz target NOT met")
        return 0 if ok else 1
    finally:
        if monitor is not None:
            monitor._stop_alerting()
            monitor.client.stop()
        receiver.server.shutdown()
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
