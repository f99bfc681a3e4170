"""The description's Basic Usage with ``enable_prometheus: True`` serves /metrics from the trader process.

Two real trader processes (tests/fakes/serving_trader.py) beside a real ingest worker: the first serves
``/metrics`` on its ``prometheus_port`` (and, with ``enable_realtime``, the stream and status page on
``websocket.port``) while its monitor runs, with its trade counted; the second, configured with the same
ports, says so in one log line per port and keeps recording; ``stop()`` closes both ports.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.conftest import ROOT, child_env, free_port, port_open, wait_until, write_config

pytestmark = pytest.mark.e2e


class ServingTrader:
    """tests/fakes/serving_trader.py as a child process; ``events()`` are its reported steps."""

    def __init__(self, workdir: Path, config: dict[str, Any], redis_url: str,
                 portfolio: dict[str, Any] | None = None) -> None:
        workdir.mkdir(parents=True)
        self.workdir = workdir
        (workdir / "config.json").write_text(json.dumps(config))
        self.log = workdir / "trader.log"
        env = child_env(write_config(workdir / "monitoring.yaml", redis_url), redis_url, workdir / "state")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.serving_trader",
                                          str(workdir / "config.json"), str(workdir),
                                          *([json.dumps(portfolio)] if portfolio is not None else [])],
                                         cwd=str(ROOT), env=env, stdin=subprocess.PIPE, stdout=log,
                                         stderr=subprocess.STDOUT)

    def events(self) -> dict[str, dict[str, Any]]:
        try:
            lines = (self.workdir / "events.jsonl").read_text().splitlines()
        except OSError:
            return {}
        return {e["event"]: e for e in map(json.loads, lines)}

    def wait_for(self, event: str, timeout: float = 30) -> dict[str, Any]:
        found = wait_until(lambda: self.events().get(event) or self.proc.poll() is not None, timeout=timeout,
                           message=f"trader event {event!r}")
        assert isinstance(found, dict), f"trader exited before {event!r}:\n{self.output()}"
        return found

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _get(url: str, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _trades_counted(port: int, count: int) -> bool:
    try:
        status, body = _get(f"http://127.0.0.1:{port}/metrics")
    except OSError:
        return False
    return status == 200 and f"graphwiz_trading_total_trades_total {count:.1f}" in body.splitlines()


def test_basic_usage_serves_metrics_and_stream_while_running(tmp_path, redis_url, celery_processes) -> None:
    worker = celery_processes("worker", "-Q", "ingest", "-c", "1", "-n", "ingest@%h", "--loglevel", "INFO", "--without-gossip",
                              "--without-mingle")
    metrics_port, stream_port = free_port(), free_port()

    def config(name: str) -> dict[str, Any]:
        return {  # the description's Basic Usage dict, with a free port, plus enable_realtime and the test's Redis
            'monitoring': {'prometheus_port': metrics_port, 'enable_prometheus': True, 'enable_realtime': True},
            'websocket': {'port': stream_port},
            'redis': {'url': redis_url},
            'trader': {'name': name, 'journal_dir': str(tmp_path / name / "journal")},
        }

    first = ServingTrader(tmp_path / "first", config("first"), redis_url)
    second: ServingTrader | None = None
    try:
        started = first.wait_for("started")
        assert started["start_seconds"] < 0.5, started  # the servers bind in their own threads
        assert first.wait_for("recorded")["delivered"] is True
        wait_until(lambda: _trades_counted(metrics_port, 1), timeout=30, message="/metrics counts the trade")
        assert _get(f"http://127.0.0.1:{metrics_port}/metrics", host="evil.example:1")[0] == 403  # the Host check

        wait_until(lambda: port_open(stream_port), timeout=15, message="the realtime server listens")
        assert _get(f"http://127.0.0.1:{stream_port}/healthz")[0] == 200
        with connect(f"ws://127.0.0.1:{stream_port}/", open_timeout=10) as ws:
            snapshot = json.loads(ws.recv(timeout=10))
        assert snapshot["type"] == "snapshot"
        assert snapshot["data"]["metrics"]["trading"]["total_trades"] == 1

        # A second trader configured with the same ports: one log line per port, and it keeps recording.
        second = ServingTrader(tmp_path / "second", config("second"), redis_url)
        assert second.wait_for("recorded")["delivered"] is True
        wait_until(lambda: _trades_counted(metrics_port, 2), timeout=30, message="the second trader's trade counted")
        wait_until(lambda: f":{stream_port}" in second.output(), timeout=15, message="the stream port's log line")
        lines = second.output().splitlines()
        assert len([line for line in lines if f":{metrics_port}" in line]) == 1, second.output()
        assert len([line for line in lines if f":{stream_port}" in line]) == 1, second.output()
        assert all(" WARNING " in line for line in lines if f":{metrics_port}" in line or f":{stream_port}" in line)
        assert "Traceback" not in second.output()

        first.send("stop")
        first.wait_for("stopped")
        assert first.proc.poll() is None  # alive: stop() itself closed the ports
        assert not port_open(metrics_port) and not port_open(stream_port)
        assert "Traceback" not in first.output(), first.output()
        assert worker.alive()
    finally:
        for trader in (first, second):
            if trader is not None:
                trader.close()
