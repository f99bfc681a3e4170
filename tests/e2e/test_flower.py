"""Flower in the stack: basic auth from the config, worker events on, task arguments shown as summaries."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from graphwiz_monitoring.celery import create_app
from graphwiz_monitoring.config import parse_settings
from tests.conftest import ROOT, child_env, free_port, wait_until, write_config

pytestmark = pytest.mark.e2e
PASSWORD = "flower-test-pw"
MARKER = "RAW-RECORD-MARKER"


def _get(url: str, auth: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""


GRAPHWIZ_COMMAND = [sys.executable, "-m", "graphwiz_monitoring.cli", "flower", "--logging=warning"]
# The plain command README and DESIGN name: the app points Flower at the settings-driven flowerconfig.py
# wherever it runs (the project directory also has ./flowerconfig.py, Flower's default file).
CELERY_COMMAND = [sys.executable, "-m", "celery", "-A", "graphwiz_monitoring", "flower", "--logging=warning"]
ELSEWHERE = "elsewhere"  # run from an empty directory (no ./flowerconfig.py), not the project's


@pytest.fixture(params=[GRAPHWIZ_COMMAND], ids=["graphwiz-monitoring-flower"])
def flower(request, tmp_path: Path, redis_url: str):
    command, where = request.param if isinstance(request.param, tuple) else (request.param, ROOT)
    if where == ELSEWHERE:
        where = tmp_path / "elsewhere"
        where.mkdir()
    port = free_port()
    extra = (f"flower:\n  host: 127.0.0.1\n  port: {port}\n  basic_auth_user: ops\n"
             "  basic_auth_password: ${FLOWER_TEST_PASSWORD}\n  allowed_hosts: [flower.internal]\n")
    config = write_config(tmp_path / "flower.yaml", redis_url, extra)
    env = {**child_env(config, redis_url, tmp_path / "state"), "FLOWER_TEST_PASSWORD": PASSWORD,
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    log = open(tmp_path / "flower.log", "wb")
    proc = subprocess.Popen(command, cwd=str(where), env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _get(base + "/")[0] == 401 or proc.poll() is not None, timeout=30,
                   message="flower answering")
        assert proc.poll() is None, (tmp_path / "flower.log").read_text(errors="replace")[-3000:]
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        log.close()


def test_flower_requires_auth_and_shows_tasks_with_summarised_args(flower: str, celery_processes, redis_url) -> None:
    assert _get(flower + "/api/tasks")[0] == 401
    assert _get(flower + "/api/tasks", "ops:wrong")[0] == 401
    assert _get(flower + "/", f"ops:{PASSWORD}")[0] == 200

    celery_processes("worker", "-Q", "ingest,metrics,rules", "-P", "solo", "--loglevel", "INFO")
    app = create_app(parse_settings({"redis": {"url": redis_url}}, env={}))
    records = [{"kind": "trade", "data": {"trade_id": f"t{i}", "symbol": "BTC/USDT", "side": "buy", "price": 100,
                                          "quantity": 1, "pnl": 1.0, "success": True, "note": MARKER}}
               for i in range(20)]
    result = app.send_task("workers.ingest.ingest_batch", args=[{"batch_id": "flower-b1", "records": records}])

    def seen_by_worker() -> dict | None:
        status, body = _get(flower + "/api/tasks", f"ops:{PASSWORD}")
        task = json.loads(body).get(result.id) if status == 200 else None
        # RECEIVED and later states come from the worker's events, not only the client's task-sent
        return task if task and task.get("state") in ("RECEIVED", "STARTED", "SUCCESS", "FAILURE", "RETRY") else None

    task = wait_until(seen_by_worker, timeout=30, interval=0.2, message="flower to see the task from worker events")
    assert task["name"] == "workers.ingest.ingest_batch"
    assert task["args"] == "({'batch_id': 'flower-b1', 'records': 20, 'kinds': {'trade': 20}},)"
    status, body = _get(f"{flower}/api/task/info/{result.id}", f"ops:{PASSWORD}")
    assert status == 200 and MARKER.encode() not in body and b"BTC/USDT" not in body


@pytest.mark.parametrize("flower", [CELERY_COMMAND, (CELERY_COMMAND, ELSEWHERE)],
                         ids=["celery-flower", "celery-flower-from-another-directory"], indirect=True)
def test_plain_celery_flower_takes_the_same_auth_and_bind(flower: str) -> None:
    """Issue 16: from a directory without ./flowerconfig.py Flower served without a password on every address."""
    assert flower.startswith("http://127.0.0.1:")  # the fixture waited for the configured loopback port
    assert _get(flower + "/api/tasks")[0] == 401
    assert _get(flower + "/", f"ops:{PASSWORD}")[0] == 200


@pytest.mark.parametrize("config_host, extra_args", [("0.0.0.0", []), ("127.0.0.1", ["--address=0.0.0.0"])],
                         ids=["config-host", "address-option"])
def test_plain_celery_flower_refuses_an_exposed_bind_without_password(tmp_path, redis_url, config_host,
                                                                        extra_args) -> None:
    port = free_port()
    config = write_config(tmp_path / "m.yaml", redis_url, f"flower:\n  host: {config_host}\n  port: {port}\n")
    env = {**child_env(config, redis_url, tmp_path / "state"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    out = subprocess.run([*CELERY_COMMAND, *extra_args], cwd=str(tmp_path), env=env, capture_output=True,
                         timeout=30)
    text = (out.stdout + out.stderr).decode(errors="replace")
    assert out.returncode != 0, text[-2000:]
    assert "flower.basic_auth_password: required when" in text and "Traceback" not in text, text[-2000:]
    assert _get(f"http://127.0.0.1:{port}/")[0] == 0  # nothing serves


def test_dns_rebinding_host_is_refused_by_flower(flower: str) -> None:
    """Finding 8 (issue 11): Flower gets the same Host/Origin check as the exporter and realtime server.

    Basic auth is no guard here: a browser sends remembered credentials to a rebound name's origin too.
    """
    auth = f"ops:{PASSWORD}"
    port = flower.rsplit(":", 1)[1]
    for path in ("/", "/api/tasks", "/api/workers"):
        assert _get(flower + path, auth, {"Host": f"evil.example:{port}"}) == (403, b""), path
        assert _get(flower + path, auth, {"Origin": "http://evil.example"})[0] == 403, path
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "flower.internal"):
        assert _get(flower + "/api/tasks", auth, {"Host": host})[0] == 200, host
    assert _get(flower + "/api/tasks", None, {"Host": "flower.internal"})[0] == 401  # auth still required
