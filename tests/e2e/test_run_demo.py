"""`graphwiz-monitoring run --demo` on a machine where the configured Redis is not running: it starts its
own, serves /metrics, the demo's drawdown alert shows on the log channel within a minute, and Ctrl-C
stops every process with exit code 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import psutil

from tests.conftest import free_port, require_binary, wait_until


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except OSError:
        return 0


def test_run_demo_end_to_end(tmp_path):
    require_binary("redis-server")
    redis_port, exporter_port, ws_port = free_port(), free_port(), free_port()
    config = tmp_path / "monitoring.yaml"
    config.write_text(f"""
redis:
  url: redis://127.0.0.1:{redis_port}/0
monitoring:
  prometheus_port: {exporter_port}
  rule_evaluation_interval_seconds: 2
websocket:
  port: {ws_port}
trader:
  journal_dir: {tmp_path / "journal"}
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHWIZ_")}
    env["PYTHONUNBUFFERED"] = "1"
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphwiz_monitoring.cli", "--config", str(config), "run", "--demo",
         "--state-dir", str(tmp_path / "state")],
        cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(lambda: proc.stdout.readline().decode(errors="replace"), "")),
                              daemon=True)
    reader.start()
    output = lambda: "".join(lines)  # noqa: E731
    try:
        wait_until(lambda: _get(f"http://127.0.0.1:{exporter_port}/metrics") == 200, timeout=60,
                   message="/metrics answering")
        assert time.monotonic() - started < 60
        assert "[   redis]" in output(), "the supervisor should have started its own Redis"
        wait_until(lambda: "large_loss" in output() and "DEMO" in output(), timeout=90,
                   message="the demo's drawdown alert on the log channel")
        family = psutil.Process(proc.pid).children(recursive=True)
        assert len(family) >= 6  # redis, two workers (+ prefork children), exporter, realtime, demo
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        reader.join(timeout=5)
    assert code == 0, output()[-3000:]
    time.sleep(0.5)
    survivors = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert survivors == [], f"processes left behind: {survivors}"
