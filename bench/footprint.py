"""Memory footprint of `graphwiz-monitoring run` (issue 16, item 1) beside Prometheus + Alertmanager.

Run: ``.venv/bin/python bench/footprint.py [--idle 60] [--load 60] [--rate 2000]``. It starts its own
redis-server on a free port (so `run` reuses it: Redis is not counted), then `graphwiz-monitoring run`
(no demo), and Prometheus (scraping the exporter) and Alertmanager with minimal configs on free ports.
After ``--idle`` seconds it reads the PSS of every process of `run` (the supervisor and all its
descendants) and of Prometheus and Alertmanager from ``/proc/<pid>/smaps_rollup``; then a trader
process (a ``TradingMonitor``, not counted) records ``--rate`` trades/s for ``--load`` seconds and the
`run` processes are measured again at the end of the load. PSS (proportional set size) charges each
shared page to its sharers in parts, so the totals add up to what the processes really cost.

Targets: `run` <= 160 MiB PSS idle and under load; `run` / (Prometheus + Alertmanager) <= 2.2x idle.
Prints one table per measurement and a last JSON line ``FOOTPRINT {...}``; exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from graphwiz_monitoring.state import KeySpace, Store  # noqa: E402

TARGET_PSS_MIB = 160.0
TARGET_RATIO = 2.2
TRADE = {"symbol": "BTC/USDT", "side": "buy", "price": 50_000.0, "quantity": 0.01, "pnl": 0.5, "exchange": "binance"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def rollup(pid: int) -> tuple[float, float]:
    """(PSS, anonymous PSS) of one process in MiB, from the kernel's rollup of its mappings.

    Anonymous pages are shared only within a fork family, so their PSS does not depend on what else runs
    on the machine; file pages (binaries, libpython) are shared with every process mapping the same file,
    so a second Prometheus elsewhere on the machine halves the first one's file PSS.
    """
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("Pss", "Pss_Anon"):
                fields[name] = int(rest.split()[0]) / 1024
    return fields.get("Pss", 0.0), fields.get("Pss_Anon", 0.0)


def describe(proc: psutil.Process) -> str:
    """A short label: the command's interesting part (celery node name, CLI subcommand, binary)."""
    try:
        argv = proc.cmdline()
    except psutil.Error:
        return "?"
    if "-n" in argv:
        node = argv[argv.index("-n") + 1].split("@")[0]
        return f"celery {node} ({proc.name()})"
    interesting = [a for a in argv[1:] if not a.startswith("-") and "/" not in a and a not in ("-m",)]
    return " ".join([Path(argv[0]).name, *interesting[-2:]]) if argv else proc.name()


Row = tuple[int, str, float, float]  # pid, label, PSS MiB, anonymous PSS MiB


def family_pss(root_pid: int) -> list[Row]:
    """A process and all its descendants."""
    root = psutil.Process(root_pid)
    rows = []
    for proc in [root, *root.children(recursive=True)]:
        try:
            rows.append((proc.pid, describe(proc), *rollup(proc.pid)))
        except (OSError, psutil.Error):  # exited between listing and reading
            continue
    return rows


def print_table(title: str, rows: list[Row]) -> tuple[float, float]:
    total, anon = sum(r[2] for r in rows), sum(r[3] for r in rows)
    print(f"\n{title}: {len(rows)} processes, {total:.1f} MiB PSS ({anon:.1f} MiB anonymous)")
    for pid, label, mib, anon_mib in rows:
        print(f"  {pid:>8}  {mib:7.1f} MiB  ({anon_mib:5.1f} anon)  {label}")
    return total, anon


def other_instances(binaries: list[str], ours: set[int]) -> int:
    """Processes of the same binaries outside this benchmark: they share file pages, lowering our PSS."""
    names = {Path(b).name for b in binaries}
    count = 0
    for proc in psutil.process_iter(["pid", "name"]):
        if proc.info["pid"] not in ours and proc.info["name"] in names:
            count += 1
    return count


# ------------------------------------------------------------------ trader process (not measured)
def trader_main(config: str, rate: int, seconds: float, results: Any) -> None:
    import asyncio

    from graphwiz_monitoring import create_monitor
    from graphwiz_monitoring.config import load_settings

    monitor = create_monitor(load_settings(config, env={}))

    async def main() -> None:
        await monitor.start()
        per_tick, tick, n = max(1, rate // 100), 0.01, 0
        started = time.monotonic()
        next_tick = started
        while time.monotonic() - started < seconds:
            for _ in range(per_tick):
                monitor.record_trade(TRADE)
                n += 1
            next_tick += tick
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
        elapsed = time.monotonic() - started
        await asyncio.to_thread(monitor.flush, 60.0)
        await monitor.stop()
        results.put({"trades": n, "elapsed": elapsed})

    asyncio.run(main())


# ------------------------------------------------------------------ services
class Services:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        redis_port, self.exporter_port, ws_port = free_port(), free_port(), free_port()
        self.prom_port, self.am_port = free_port(), free_port()
        self.url = f"redis://127.0.0.1:{redis_port}/0"
        self._start("redis", [shutil.which("redis-server") or "redis-server", "--port", str(redis_port), "--bind",
                              "127.0.0.1", "--dir", str(workdir), "--appendonly", "yes", "--save", "",
                              "--maxmemory-policy", "noeviction"])
        self.store = Store(self.url)
        wait(self.store.is_available, 10, "redis-server")
        self.config = workdir / "monitoring.yaml"
        self.config.write_text(json.dumps({
            "redis": {"url": self.url},
            "monitoring": {"prometheus_port": self.exporter_port},
            "websocket": {"port": ws_port},
            "trader": {"journal_dir": str(workdir / "journal")},
        }, indent=2))
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHWIZ_")}
        env["PYTHONUNBUFFERED"] = "1"
        self._start("run", [sys.executable, "-m", "graphwiz_monitoring.cli", "--config", str(self.config), "run",
                            "--state-dir", str(workdir / "state")], env)
        self._start_prometheus_stack()

    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        out = open(self.workdir / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen(argv, cwd=str(self.workdir), env=env, stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)

    def _start_prometheus_stack(self) -> None:
        prom = shutil.which("prometheus")
        am = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if not prom or not am:
            raise SystemExit("prometheus and alertmanager (Debian packages) are needed for the comparison")
        self.binaries = [os.path.realpath(prom), os.path.realpath(am)]
        (self.workdir / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n"
            f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{self.am_port}']\n"
            f"scrape_configs:\n  - job_name: graphwiz\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{self.exporter_port}']\n")
        (self.workdir / "alertmanager.yml").write_text("route:\n  receiver: none\nreceivers:\n  - name: none\n")
        self._start("prometheus", [prom, f"--config.file={self.workdir / 'prometheus.yml'}",
                                   f"--storage.tsdb.path={self.workdir / 'prom-data'}",
                                   f"--web.listen-address=127.0.0.1:{self.prom_port}"])
        self._start("alertmanager", [am, f"--config.file={self.workdir / 'alertmanager.yml'}",
                                     f"--storage.path={self.workdir / 'am-data'}",
                                     f"--web.listen-address=127.0.0.1:{self.am_port}",
                                     "--cluster.listen-address="])

    def ready(self) -> None:
        wait(lambda: answers(f"http://127.0.0.1:{self.exporter_port}/metrics"), 90, "run's /metrics")
        wait(lambda: answers(f"http://127.0.0.1:{self.prom_port}/-/ready"), 60, "prometheus ready")
        wait(lambda: answers(f"http://127.0.0.1:{self.am_port}/-/ready"), 60, "alertmanager ready")

    def stop(self) -> None:
        for proc in reversed(self.procs.values()):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT if proc is self.procs.get("run") else signal.SIGTERM)
        for proc in reversed(self.procs.values()):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=60.0, help="seconds idle before the first measurement")
    parser.add_argument("--load", type=float, default=60.0, help="seconds of trades before the second")
    parser.add_argument("--rate", type=int, default=2000, help="trades per second during the load")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs) afterwards")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="graphwiz-footprint-"))
    load = os.getloadavg()
    print(f"graphwiz footprint: run idle {args.idle:g} s, then {args.rate:,} trades/s for {args.load:g} s "
          f"({os.cpu_count()} cores, load average {load[0]:.2f}); work dir {workdir}", flush=True)
    services = Services(workdir)
    figures: dict[str, Any] = {}
    try:
        services.ready()
        time.sleep(args.idle)
        idle = family_pss(services.procs["run"].pid)
        figures["run_idle_mib"], figures["run_idle_anon_mib"] = print_table("run, idle", idle)
        stack = [(services.procs[n].pid, n, *rollup(services.procs[n].pid)) for n in ("prometheus", "alertmanager")]
        figures["prometheus_alertmanager_mib"], figures["prometheus_alertmanager_anon_mib"] = print_table(
            "Prometheus + Alertmanager, idle", stack)
        figures["processes"] = len(idle)
        others = other_instances(services.binaries, {p.pid for p in services.procs.values()})
        if others:
            print(f"  note: {others} other prometheus/alertmanager processes run on this machine; they share "
                  "these binaries' file pages, so the PSS above is lower than on a machine of their own "
                  "(the anonymous PSS is not affected)")
        figures["other_prometheus_processes"] = others

        ctx = mp.get_context("spawn")
        results = ctx.Queue()
        trader = ctx.Process(target=trader_main, args=(str(services.config), args.rate, args.load, results))
        trader.start()
        deadline = time.monotonic() + args.load - 1.0
        while time.monotonic() < deadline and trader.is_alive():
            time.sleep(0.5)
        loaded = family_pss(services.procs["run"].pid)  # measured while the trades still arrive
        figures["run_load_mib"], figures["run_load_anon_mib"] = print_table(f"run, after {args.load:g} s of {args.rate:,} trades/s", loaded)
        res = results.get(timeout=120)
        trader.join(timeout=30)
        keys = KeySpace()
        counted = lambda: int(services.store.r.hget(keys.trading_agg, "total_trades") or 0)  # noqa: E731
        wait(lambda: counted() >= res["trades"], 120, "every trade counted")
        figures["trades"] = res["trades"]
        figures["trades_per_second"] = round(res["trades"] / res["elapsed"])
    finally:
        services.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    ratio = figures["run_idle_mib"] / figures["prometheus_alertmanager_mib"]
    figures["ratio_idle"] = round(ratio, 2)
    checks = [
        ("run idle PSS", f"{figures['run_idle_mib']:.1f} MiB", f"<= {TARGET_PSS_MIB:g} MiB",
         figures["run_idle_mib"] <= TARGET_PSS_MIB),
        ("run PSS under load", f"{figures['run_load_mib']:.1f} MiB", f"<= {TARGET_PSS_MIB:g} MiB",
         figures["run_load_mib"] <= TARGET_PSS_MIB),
        ("run / (Prometheus + Alertmanager), idle", f"{ratio:.2f}x", f"<= {TARGET_RATIO:g}x", ratio <= TARGET_RATIO),
        ("trades recorded and counted", f"{figures['trades']:,} ({figures['trades_per_second']:,}/s)", "all", True),
    ]
    print()
    for name, value, target, ok in checks:
        print(f"  {name:<42} {value:>22}  target {target:<10} {'OK' if ok else 'MISSED'}")
    print("FOOTPRINT " + json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in figures.items()}))
    return 0 if all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
