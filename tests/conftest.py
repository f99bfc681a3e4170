"""Shared fixtures: a private redis-server per test session (restartable), real Celery worker/beat processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Area fixture modules shared by integration and e2e tests.
pytest_plugins = ["tests.fakes.notify_fixtures"]  # notification fakes: Discord/Slack/Telegram/webhook/SMTP


@pytest.fixture(autouse=True)
def _config_env_restored() -> Iterator[None]:
    """The CLI exports ``--config`` as $GRAPHWIZ_CONFIG for its children (cli/common.py): a test invoking it
    in-process must not leave that file to the child processes of the tests after it."""
    before = os.environ.get("GRAPHWIZ_CONFIG")
    yield
    if before is None:
        os.environ.pop("GRAPHWIZ_CONFIG", None)
    else:
        os.environ["GRAPHWIZ_CONFIG"] = before


def require_binary(name: str) -> str:
    """Path of a binary tests need; missing is a failure in CI and outside it (never a silent skip)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; `make test` installs it (apt-get install {name})", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on ``host:port`` now."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until truthy; fail the test with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class RedisServer:
    """A redis-server child on a free port, with AOF so restarts keep state; can stop/start/kill."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_binary("redis-server")
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        # everysec may lose the last 1-2 s of acknowledged writes when Redis is killed -9 under I/O
        # load; scenarios that kill Redis and promise "nothing lost" switch to "always".
        self.appendfsync = "everysec"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
             "--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "",
             "--maxmemory-policy", "noeviction", "--daemonize", "no", "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout=10, message=f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()

    def clean(self) -> str:
        """The server running (started again if a test killed it) and empty; its URL."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.flush()
        return self.url


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A clean Redis for this test (the session server, flushed)."""
    return redis_server.clean()


@pytest.fixture
def settings(redis_url: str):
    from graphwiz_monitoring.config import parse_settings

    return parse_settings({"redis": {"url": redis_url}}, env={})


@pytest.fixture
def store(settings):
    from graphwiz_monitoring.state import Store

    s = Store(settings.redis.url)
    yield s
    s.close()


@pytest.fixture
def keys(settings):
    from graphwiz_monitoring.state import KeySpace

    return KeySpace(settings.redis.namespace)


def one_check_config(check: str, interval: float, rule_interval: float = 3600) -> str:
    """monitoring.yaml sections that schedule one health check every ``interval`` s and nothing else
    often (system metrics hourly, rule evaluation every ``rule_interval`` s)."""
    others = "\n".join(f"    {name}: {{enabled: false}}" for name in (
        "exchange_connectivity", "neo4j_connectivity", "system_resources", "disk_space", "agent_health",
        "portfolio_health", "database_locks", "api_rate_limits") if name != check)
    return (f"monitoring:\n  metrics_interval_seconds: 3600\n  rule_evaluation_interval_seconds: {rule_interval}\n"
            f"health_checks:\n  checks:\n    {check}: {{interval_seconds: {interval}, recovery: []}}\n{others}\n")


def write_config(path: Path, redis_url: str, extra: str = "") -> Path:
    """A monitoring.yaml for child processes: the test Redis plus ``extra`` YAML sections."""
    path.write_text(f"redis:\n  url: {redis_url}\n{extra}", encoding="utf-8")
    return path


class CeleryProcess:
    """A real `celery -A graphwiz_monitoring worker|beat` child process."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "graphwiz_monitoring", *args],
            cwd=str(ROOT), env=env, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log_file.close()


def skewed_clock(offset: str) -> dict[str, str]:
    """Environment running a child with its wall clock ``offset`` from the host's (e.g. ``+60s``, ``-2h``).

    libfaketime (Debian package ``faketime``), preloaded into the child itself (the ``faketime`` command
    would fork, and a test's pid and signals must reach the real process): what a host with a wrong
    clock looks like to the rest of the cluster, while Redis keeps the true time. The monotonic clock is
    left alone, as on such a host (shifting it also stalls Python's timed waits by the offset); the
    multi-threaded library because workers and traders run threads; and ``time.sleep`` is routed around
    a libfaketime bug (tests/fakes/skewed_clock/sitecustomize.py).
    """
    require_binary("faketime")
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1")) + sorted(
        Path("/usr/lib").glob("faketime/libfaketimeMT.so.1"))
    if not found:
        pytest.fail("libfaketimeMT.so.1 not found under /usr/lib; apt-get install faketime", pytrace=False)
    site = str(ROOT / "tests" / "fakes" / "skewed_clock")
    path = os.pathsep.join(p for p in (site, os.environ.get("PYTHONPATH", "")) if p)
    return {"LD_PRELOAD": str(found[0]), "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1", "PYTHONPATH": path}


def child_env(config_path: Path, redis_url: str, state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GRAPHWIZ_CONFIG=str(config_path), GRAPHWIZ_REDIS_URL=redis_url, GRAPHWIZ_STATE_DIR=str(state_dir),
               PYTHONUNBUFFERED="1")
    return env


@pytest.fixture
def celery_processes(tmp_path: Path, redis_url: str):
    """Factory: start real worker/beat processes against the test Redis; all stopped at teardown.

    Usage: ``worker = celery_processes("worker", "-Q", "ingest", "-c", "2", config_extra="...")``.
    ``clock_offset="+60s"`` runs the process under libfaketime (see skewed_clock): its wall clock is 60 s ahead.
    """
    started: list[CeleryProcess] = []

    def start(*args: str, config_extra: str = "", ready_timeout: float = 30,
              clock_offset: str | None = None) -> CeleryProcess:
        config = write_config(tmp_path / f"monitoring-{len(started)}.yaml", redis_url, config_extra)
        env = child_env(config, redis_url, tmp_path / "state")
        env.update(skewed_clock(clock_offset) if clock_offset else {})
        proc = CeleryProcess(list(args), env, tmp_path / f"celery-{len(started)}.log")
        started.append(proc)
        if args and args[0] == "worker":
            wait_until(lambda: "ready." in proc.output() or not proc.alive(), timeout=ready_timeout,
                       message="celery worker ready")
            assert proc.alive(), proc.output()[-3000:]
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def sleeping_process() -> Iterator[subprocess.Popen[bytes]]:
    """A real, idle child process for a test to freeze (SIGSTOP) or kill: e.g. the holder of a claim."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
    proc.wait()
