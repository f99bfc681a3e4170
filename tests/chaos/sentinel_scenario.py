"""Redis failover with Sentinel under load (issue 15 item 1): shared by the chaos test and bench/sentinel_failover.py.

A private deployment (tests/fakes/sentinel_cluster.py: primary, one replica, three sentinels, passwords on
both), one worker (every queue the scenario uses, 2 pool processes) and one beat, both real processes
given only the sentinel URL; a ``TradingMonitor`` recording ``rate`` trades/s and creating one alert a
second (``create_manual_alert`` to a loopback webhook). The primary is killed with -9; the sentinels
promote the replica. Measured: promotion time, how long after it ingest counts trades again, trades
counted against recorded, each alert's webhook deliveries, and the pids of worker and beat (no restart).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml
from websockets.sync.client import connect

from graphwiz_monitoring.celery.liveness import ALIVE_TTL_SECONDS
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.state.store import REPLICA_RECHECK_SECONDS
from graphwiz_monitoring.trader.monitor import create_monitor
from tests.chaos.steady_trader import SteadyTrader
from tests.conftest import ROOT, CeleryProcess, child_env, free_port, wait_until
from tests.fakes.chat_apis import WebhookReceiver
from tests.fakes.notify_fixtures import notifications_config
from tests.fakes.sentinel_cluster import DATA_PASSWORD, SENTINEL_PASSWORD, SentinelCluster

QUEUES = "ingest,metrics,rules,health,recovery,notify.webhook,notify.log"
PROCESSES = ("worker", "beat", "exporter", "realtime")
ALERT_INTERVAL_SECONDS = 1.0


@dataclass
class Outcome:
    """The figures of one run."""

    rate: int
    promoted_after: float = 0.0  # kill -9 -> sentinels report the replica as master
    ingest_resumed_after: float = 0.0  # promotion -> a trade recorded after the kill is counted
    trades_recorded: int = 0
    trades_counted: int = 0
    duplicates_recognised: int = 0
    alerts_created: list[str] = field(default_factory=list)
    alerts_refused: list[str] = field(default_factory=list)  # create_manual_alert raised: the caller was told
    deliveries: Counter[str] = field(default_factory=Counter)
    record_errors: list[str] = field(default_factory=list)
    call_max_ms: float = 0.0
    unconfirmed_writes: int = 0
    unconfirmed_at_rejoin: int | None = None  # the same counter once the old primary is a replica again
    beat_task_after: float | None = None  # promotion -> a task beat scheduled ran (worker log), None: never
    exporter_ok_after: float = 0.0  # promotion -> /metrics shows Redis up and a trade recorded after the kill
    realtime_events_after_promotion: int = 0  # alert events a WebSocket client got from the new master
    cli_status_exit: int | None = None  # `graphwiz-monitoring status` started after the promotion
    secrets_seen: list[str] = field(default_factory=list)  # where a Redis or sentinel password showed up
    malformed_dropped: int = 0  # "dropped a queue item that is not a message" lines (one was pushed)
    heartbeat_on_new_master: bool = False  # the worker's liveness thread wrote to the new master
    pids_before: dict[str, int] = field(default_factory=dict)
    pids_after: dict[str, int | None] = field(default_factory=dict)

    @property
    def alerts_missing(self) -> list[str]:
        return [a for a in self.alerts_created if self.deliveries[a] == 0]

    @property
    def alerts_duplicated(self) -> list[str]:
        return [a for a in self.alerts_created if self.deliveries[a] > 1]

    def lines(self) -> list[str]:
        return [
            f"SENTINEL failover: replica promoted {self.promoted_after:.2f} s after kill -9 of the primary; ingest "
            f"counted trades again {self.ingest_resumed_after:.2f} s after the promotion",
            f"SENTINEL trades: {self.trades_recorded} recorded at {self.rate}/s, {self.trades_counted} counted "
            f"({self.duplicates_recognised} redelivered trades recognised as duplicates); record_* raised "
            f"{len(self.record_errors)}, slowest call {self.call_max_ms:.1f} ms",
            f"SENTINEL alerts: {len(self.alerts_created)} created, {len(self.alerts_refused)} refused (raised to the "
            f"caller), {len(self.alerts_missing)} never notified, {len(self.alerts_duplicated)} notified twice; "
            f"durable writes unconfirmed by a replica (trader): {self.unconfirmed_writes}"
            + (f" ({self.unconfirmed_at_rejoin} when the old primary was a replica again)"
               if self.unconfirmed_at_rejoin is not None else ""),
            f"SENTINEL beat: a scheduled rule evaluation ran {self.beat_task_after} s after the promotion",
            f"SENTINEL other clients: exporter /metrics right {self.exporter_ok_after:.2f} s after the promotion; "
            f"realtime relayed {self.realtime_events_after_promotion} alert events from the new master; "
            f"CLI status exit {self.cli_status_exit}",
            f"SENTINEL hardening: malformed queue item dropped {self.malformed_dropped}x; worker heartbeat on the new "
            f"master: {self.heartbeat_on_new_master}",
            f"SENTINEL processes: before {self.pids_before}, after {self.pids_after}",
        ]


def _config_extra(cluster: SentinelCluster, webhook: WebhookReceiver, exporter_port: int, ws_port: int) -> str:
    """The YAML after ``redis:\\n  url: ...`` (write_config's layout): the rest of redis, then the sections."""
    notifications = notifications_config(webhook=webhook)
    sections = {"notifications": notifications,
                "monitoring": {"metrics_interval_seconds": 1, "rule_evaluation_interval_seconds": 1,
                               "prometheus_port": exporter_port},
                "websocket": {"port": ws_port}}
    return cluster.settings_yaml() + "  socket_timeout_seconds: 1\n" + yaml.safe_dump(sections, sort_keys=False)


def _alive(proc: CeleryProcess) -> int | None:
    return proc.proc.pid if proc.alive() else None


class CliProcess(CeleryProcess):
    """A long-running ``graphwiz-monitoring <command>`` child (exporter, realtime), stopped like a Celery one."""

    def __init__(self, command: str, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = open(log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "graphwiz_monitoring.cli", command], cwd=str(ROOT),
                                     env=env, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True)


_SUCCEEDED = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/[^\]]*\] Task workers\.rules\.evaluate\[.*succeeded",
                       re.MULTILINE)


def _first_beat_task_after(worker_log: str, since: float) -> float | None:
    """Seconds from ``since`` to the first rule evaluation (a beat entry) a worker finished after it."""
    for match in _SUCCEEDED.finditer(worker_log):
        at = time.mktime(time.strptime(match.group(1)[:19], "%Y-%m-%d %H:%M:%S")) + int(match.group(1)[20:]) / 1000
        if at > since:
            return round(at - since, 2)
    return None


def _secrets_in(where: str, text: str) -> list[str]:
    return [f"{where}: {secret}" for secret in (DATA_PASSWORD, SENTINEL_PASSWORD) if secret in text]


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


class EventListener:
    """A WebSocket client of the realtime server, keeping (arrival time, event type) of every message."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.events: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ws-listener", daemon=True)

    def start(self) -> EventListener:
        wait_until(self._connectable, timeout=30, message="the realtime server")
        self._thread.start()
        return self

    def _connectable(self) -> bool:
        try:
            with connect(f"ws://127.0.0.1:{self.port}/ws", open_timeout=2):
                return True
        except OSError:
            return False

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with connect(f"ws://127.0.0.1:{self.port}/ws", open_timeout=2) as ws:
                    while not self._stop.is_set():
                        try:
                            raw = ws.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        self.events.append((time.time(), str(json.loads(raw).get("type"))))
            except Exception:  # the server restarting would be a finding: the pid check reports it
                self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run(workdir: Path, *, rate: int, before_seconds: float, after_seconds: float, rejoin: bool = False) -> Outcome:
    """Run the scenario; every process it starts is stopped on return. ``rejoin``: after ingest resumed, the
    killed primary is started again (the sentinels make it a replica) and the run goes on ``after_seconds``."""
    outcome = Outcome(rate=rate)
    cluster = SentinelCluster(workdir / "redis").start()
    webhook = WebhookReceiver().start()
    procs: list[CeleryProcess] = []
    monitor: Any = None
    trader: SteadyTrader | None = None
    stop_alerts = threading.Event()
    try:
        exporter_port, ws_port = free_port(), free_port()
        config = workdir / "monitoring.yaml"
        config.write_text(f"redis:\n  url: '{cluster.url}'\n{_config_extra(cluster, webhook, exporter_port, ws_port)}",
                          encoding="utf-8")
        env = child_env(config, cluster.url, workdir / "state")
        worker = CeleryProcess(["worker", "-Q", QUEUES, "-c", "2", "--without-gossip", "--without-mingle",
                                "--loglevel", "INFO"], env, workdir / "worker.log")
        procs.append(worker)
        wait_until(lambda: "ready." in worker.output() or not worker.alive(), timeout=60, message="worker ready")
        assert worker.alive(), worker.output()[-3000:]
        beat = CeleryProcess(["beat", "--loglevel", "INFO"], env, workdir / "beat.log")
        procs.append(beat)
        exporter = CliProcess("exporter", env, workdir / "exporter.log")
        realtime = CliProcess("realtime", env, workdir / "realtime.log")
        procs.extend([exporter, realtime])
        listener = EventListener(ws_port).start()
        outcome.pids_before = {name: p.proc.pid for name, p in zip(PROCESSES, procs, strict=True)}

        redis_settings = cluster.settings(socket_timeout_seconds=1)
        settings = parse_settings({"redis": redis_settings}, env={})
        store, keys = Store.from_settings(settings.redis), KeySpace()
        total = lambda: int(store.r.hget(keys.trading_agg, "total_trades") or 0)  # noqa: E731
        monitor = create_monitor({"redis": redis_settings,
                                  "trader": {"journal_dir": str(workdir / "journal"), "buffer_max_records": 50_000,
                                             "stop_timeout_seconds": 30, "resend_unconfirmed_after_seconds": 5}})
        trader = SteadyTrader(monitor, rate).start()

        def alerts() -> None:
            n = 0
            while not stop_alerts.wait(ALERT_INTERVAL_SECONDS):
                n += 1
                try:
                    alert = monitor.create_manual_alert(f"failover drill {n}", "one alert a second", "warning",
                                                        ["webhook"])
                    outcome.alerts_created.append(alert.alert_id)
                except Exception as exc:  # told to the caller: it may try again
                    outcome.alerts_refused.append(f"{n}: {type(exc).__name__}")

        alert_thread = threading.Thread(target=alerts, name="alerts", daemon=True)
        alert_thread.start()
        wait_until(lambda: total() > 0 and len(webhook.received()) > 0, timeout=60,
                   message="trades counted and an alert notified before the kill")
        time.sleep(before_seconds)

        store.r.lpush("ingest", "{not json")  # the worker hardening holds under Sentinel too: logged, dropped
        recorded_at_kill = trader.stats.trades
        old = cluster.kill_primary()
        killed = time.time()
        _, promoted = cluster.wait_promoted(old)
        outcome.promoted_after = promoted - killed

        def resumed() -> float | None:
            try:
                return time.time() if total() >= recorded_at_kill + rate // 10 else None
            except Exception:
                return None
        outcome.ingest_resumed_after = wait_until(resumed, timeout=60, interval=0.02,
                                                  message="ingest to count trades after the promotion") - promoted

        def exporter_right() -> float | None:
            text = _scrape(exporter_port)
            up, trades = _metric(text, "graphwiz_exporter_redis_up"), _metric(text, "graphwiz_trading_total_trades_total")
            return time.time() if up == 1 and trades is not None and trades > recorded_at_kill else None
        outcome.exporter_ok_after = wait_until(exporter_right, timeout=30, interval=0.1,
                                               message="the exporter to read the new master") - promoted
        status = subprocess.run([sys.executable, "-m", "graphwiz_monitoring.cli", "status"], cwd=str(ROOT), env=env,
                                capture_output=True, timeout=60)
        outcome.cli_status_exit = status.returncode
        outcome.secrets_seen += _secrets_in("CLI status output", (status.stdout + status.stderr).decode(errors="replace"))
        if rejoin:
            cluster.rejoin(old)
            time.sleep(REPLICA_RECHECK_SECONDS)  # durable writes go back to waiting within this
            outcome.unconfirmed_at_rejoin = monitor.alert_manager.store.unconfirmed_writes
        time.sleep(after_seconds)

        stop_alerts.set()
        alert_thread.join(timeout=30)
        stats = trader.stop()
        assert monitor.client.flush(timeout=60), "the trader's client did not deliver everything"
        outcome.trades_recorded = stats.trades
        outcome.record_errors = stats.errors
        outcome.call_max_ms = stats.max * 1e3
        try:
            wait_until(lambda: total() == stats.trades, timeout=60, message=f"all {stats.trades} trades counted")
        finally:
            outcome.trades_counted = total()
        created = set(outcome.alerts_created)
        wait_until(lambda: created <= {r.json.get("alert_id") for r in webhook.received()}, timeout=60,
                   message="every created alert notified")
        time.sleep(1.5)  # a duplicate (redelivered task) would arrive now
        outcome.trades_counted = total()
        outcome.duplicates_recognised = int(store.r.hget(keys.ingest_stats, "duplicates:trade") or 0)
        outcome.deliveries = Counter(r.json.get("alert_id") for r in webhook.received())
        outcome.unconfirmed_writes = monitor.alert_manager.store.unconfirmed_writes
        outcome.beat_task_after = _first_beat_task_after(worker.output(), promoted)
        outcome.malformed_dropped = worker.output().count("broker: dropped a queue item that is not a message")
        # The liveness thread's entries lapse ALIVE_TTL_SECONDS after each write (Redis clock): one lapsing
        # later than that after the promotion was written to the new master (else its messages would be
        # taken for a dead worker's and requeued).
        lapses = store.r.zrange(KeySpace.queue_consumers("ingest"), 0, -1, withscores=True)
        outcome.heartbeat_on_new_master = any(score > promoted + ALIVE_TTL_SECONDS for _, score in lapses)
        listener.stop()
        outcome.realtime_events_after_promotion = sum(1 for at, kind in listener.events
                                                      if at > promoted and kind == "alert")
        outcome.pids_after = {name: _alive(p) for name, p in zip(PROCESSES, procs, strict=True)}
        for name, p in zip(PROCESSES, procs, strict=True):  # the process list (ps) of each and its children
            for each in [psutil.Process(p.proc.pid), *psutil.Process(p.proc.pid).children(recursive=True)]:
                outcome.secrets_seen += _secrets_in(f"{name} command line", " ".join(each.cmdline()))
        store.close()
        return outcome
    finally:
        stop_alerts.set()
        if trader is not None:
            trader.stop()
        if monitor is not None:
            monitor.client.stop(timeout=1)
        for name, proc in zip(PROCESSES, procs, strict=False):
            proc.stop()
            outcome.secrets_seen += _secrets_in(f"{name} log", proc.output())
        webhook.stop()
        cluster.stop()
