"""`graphwiz-monitoring run --demo` on a machine where the configured Redis is not running: it starts its
own, serves /metrics, the demo's drawdown alert shows on the console within a minute, and Ctrl-C
stops every process with exit code 0.

The console stays quiet (issue 16): a startup block, then one line per event and a summary every 30 s
(fewer than 40 lines in the first 60 s after the startup block, no Celery banner or root warning); the
processes' full output is in rotating files under the state directory."""

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

STARTUP_END = "Ctrl-C stops everything."
ALERT_LINE = "alert firing    critical large_loss"


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except OSError:
        return 0


def test_run_demo_end_to_end(tmp_path):
    require_binary("redis-server")
    redis_port, exporter_port, ws_port = free_port(), free_port(), free_port()
    config, state = tmp_path / "monitoring.yaml", tmp_path / "state"
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
         "--state-dir", str(state)],
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
        wait_until(lambda: STARTUP_END in output(), timeout=30, message="the startup block")
        console_started = time.monotonic()
        startup = output().split(STARTUP_END)[0]
        assert "(started here)" in startup, "the supervisor should have started its own Redis"
        assert f"http://127.0.0.1:{exporter_port}/metrics" in startup and f"http://127.0.0.1:{ws_port}/" in startup
        assert str(state / "logs") in startup and "Ctrl-C" in STARTUP_END
        wait_until(lambda: ALERT_LINE in output(), timeout=90, message="the demo's drawdown alert on the console")
        family = psutil.Process(proc.pid).children(recursive=True)
        assert len(family) >= 5  # redis, detection worker (+ its prefork child), notify worker, demo
        # A crashed process is restarted, and the console says so in one line each.
        notify = next(p for p in family if "notify@" in " ".join(p.cmdline()))
        notify.kill()
        wait_until(lambda: "process notify restarted" in output(), timeout=20, message="notify restarted")
        wait_until(lambda: _get(f"http://127.0.0.1:{exporter_port}/metrics") == 200, timeout=30,
                   message="/metrics served again by the restarted notify worker")
        family = psutil.Process(proc.pid).children(recursive=True)
        time.sleep(max(0.0, 60 - (time.monotonic() - console_started)))
        after = output().split(STARTUP_END, 1)[1].splitlines()
        assert len(after) < 40, "\n".join(after)
        assert any(ALERT_LINE in line for line in after)
        assert any("process notify exited with -9" in line for line in after)
        assert any("summary:" in line and "trades/s" in line for line in after)
        assert "superuser" not in output() and "celery@" not in output() and "[config]" not in output()
        # ... while the processes' own output went to their log files.
        worker_log = (state / "logs" / "worker.log").read_text(errors="replace")
        assert "ready." in worker_log and "workers.ingest" in worker_log
        assert "DEMO" in (state / "logs" / "demo.log").read_text(errors="replace")
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        reader.join(timeout=5)
    assert code == 0, output()[-3000:]
    time.sleep(0.5)
    survivors = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert survivors == [], f"processes left behind: {survivors}"
