"""`graphwiz-monitoring realtime` and `graphwiz-monitoring status` as real processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.events import EventType, publish
from graphwiz_monitoring.guards.breaker import CircuitBreaker
from graphwiz_monitoring.health.pause import set_trading_paused
from graphwiz_monitoring.state.dead_letters import add_dead_letter
from tests.conftest import ROOT, child_env, free_port, wait_until, write_config
from tests.fakes.realtime_harness import http_json

CLI = [sys.executable, "-m", "graphwiz_monitoring.cli"]


def start_cli(tmp_path, redis_url, args, extra=""):
    config = write_config(tmp_path / "monitoring.yaml", redis_url, extra)
    env = child_env(config, redis_url, tmp_path / "state")
    log = open(tmp_path / "cli.log", "wb")
    proc = subprocess.Popen([*CLI, *args], cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, tmp_path / "cli.log"


def healthz(port):
    try:
        return http_json(port, "GET", "/healthz")[0] == 200
    except OSError:
        return False


def test_realtime_command_serves_until_sigterm_then_exits_cleanly(tmp_path, redis_url, store, keys):
    port = free_port()
    proc, log = start_cli(tmp_path, redis_url, ["realtime"], f"websocket:\n  port: {port}\n")
    try:
        wait_until(lambda: healthz(port) or proc.poll() is not None, timeout=30, message="realtime /healthz")
        assert proc.poll() is None, log.read_text()
        with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"
            publish(store, keys, EventType.ALERT, {"marker": "cli"})
            while json.loads(ws.recv(timeout=5))["data"].get("marker") != "cli":
                pass
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0, log.read_text()
            assert time.monotonic() - started < 8
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001  # going away: clean
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert "Traceback" not in log.read_text()


def test_realtime_command_refuses_an_exposed_bind_without_a_token(tmp_path, redis_url):
    port = free_port()
    proc, log = start_cli(tmp_path, redis_url, ["realtime"], f"websocket:\n  host: 0.0.0.0\n  port: {port}\n")
    assert proc.wait(timeout=30) != 0
    output = log.read_text()
    assert "websocket.token" in output and "Traceback" not in output
    assert not healthz(port)


def test_status_command_prints_readable_tables(tmp_path, redis_url, settings, store, keys):
    from graphwiz_monitoring.celery import create_app

    create_app(settings).send_task("workers.ingest.ingest_batch", args=({"batch_id": "b1", "records": []},),
                                   retry=False)  # no worker runs: it waits in the ingest queue
    add_dead_letter(store, keys, "test", {"x": 1}, "made by the test")
    AlertManager(store, keys, settings, dispatch=lambda *a: None).check_alert("large_loss", {"trading": {"current_drawdown": 0.2}})
    breaker = CircuitBreaker(store, keys, "exchange_connectivity", settings.circuit_breakers)
    for _ in range(settings.circuit_breakers.failure_threshold):
        breaker.record_failure("refused", breaker.allow())
    set_trading_paused(store, keys, True, reason="portfolio breach")
    seconds, _ = store.r.time()
    store.r.zadd(keys.notify_outbox, {"lost-alert|firing": seconds - 40})  # a handoff nobody swept yet
    config = write_config(tmp_path / "monitoring.yaml", redis_url)
    env = child_env(config, redis_url, tmp_path / "state")
    done = subprocess.run([*CLI, "status"], cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, out  # not a terminal: 80 columns
    titles = [line for line in lines if line and not line.startswith(" ")]
    assert titles[1] == "Trading", out  # trading first
    for title in ("Trading", "Active alerts (1)", "Health checks", "Circuit breakers", "Pipeline", "Queues",
                  "Delivery"):
        assert f"\n{title}" in out, title
    queues = " ".join(" ".join(line.split()) for line in lines[lines.index("Queues (messages waiting / live consumers)"):])
    assert "ingest 1 / 0 " in queues and "notify.discord 0 / 0 " in queues, out  # waiting / live consumers
    assert any(line.split() == ["beat", "never", "ticked"] for line in lines), out  # no beat in this test
    assert any(line.split() == ["dead", "letters", "1"] for line in lines), out
    assert any(line.split() == ["State", "PAUSED", "(portfolio", "breach)"] for line in lines), out
    assert any(line.split()[:3] == ["P&L", "today", "$0.00"] for line in lines), out  # no trade recorded
    assert any(line.split()[:3] == ["exchange_connectivity", "open", "3"] for line in lines), out
    assert any(line.split()[:4] == ["CRITICAL", "large_loss", "Large", "loss:"] for line in lines), out
    assert any(line.split()[:3] == ["disk_space", "not", "run"] for line in lines), out  # health: not run yet
    outbox = next(line for line in lines if line.strip().startswith("notification outbox")).split()
    assert outbox[2:4] == ["1", "waiting,"] and 40 <= float(outbox[5]) < 70 and outbox[6] == "s", out

    as_json = subprocess.run([*CLI, "status", "--json"], cwd=str(ROOT), env=env, capture_output=True, text=True,
                             timeout=60)
    data = json.loads(as_json.stdout)
    assert data["queues"]["ingest"] == 1 and data["dead_letters"] == 1 and data["notify_outbox"]["entries"] == 1


def test_status_command_fails_clearly_when_redis_is_down(tmp_path):
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    config = write_config(tmp_path / "monitoring.yaml", dead_url)
    env = child_env(config, dead_url, tmp_path / "state")
    done = subprocess.run([*CLI, "status"], cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "does not answer" in done.stderr and "Traceback" not in done.stderr
