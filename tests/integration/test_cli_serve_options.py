"""`realtime --host/--port` and `exporter --host/--port` override websocket.* / monitoring.prometheus_* from the
file, with the same checks (a non-loopback realtime bind without a token is refused)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, child_env, free_port, port_open, wait_until, write_config


def _serve(tmp_path: Path, redis_url: str, *args: str) -> subprocess.Popen[bytes]:
    # The file names other ports: only the command-line ones may be bound.
    config = write_config(tmp_path / "m.yaml", redis_url, f"websocket:\n  port: {free_port()}\n"
                          f"monitoring:\n  prometheus_port: {free_port()}\n")
    return subprocess.Popen([sys.executable, "-m", "graphwiz_monitoring.cli", *args, "--config", str(config)],
                            cwd=str(ROOT), env=child_env(config, redis_url, tmp_path / "state"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)


@pytest.mark.parametrize("command, path", [("realtime", "/healthz"), ("exporter", "/metrics")])
def test_host_and_port_options_are_what_the_server_binds(tmp_path, redis_url, command, path):
    port = free_port()
    proc = _serve(tmp_path, redis_url, command, "--host", "127.0.0.1", "--port", str(port))
    try:
        wait_until(lambda: port_open(port) or proc.poll() is not None, timeout=20, message=f"{command} on --port")
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            assert response.status == 200
    finally:
        _stop(proc)


def test_realtime_host_off_loopback_without_token_is_refused(tmp_path, redis_url):
    proc = _serve(tmp_path, redis_url, "realtime", "--host", "0.0.0.0", "--port", str(free_port()))
    try:
        out, _ = proc.communicate(timeout=20)
    finally:
        _stop(proc)
    assert proc.returncode == 1
    assert b"websocket.token: required when websocket.host ('0.0.0.0') is not a loopback address" in out
    assert b"Traceback" not in out
