"""A private Redis Sentinel deployment on loopback: a primary, one replica and three sentinels.

Every process is a real ``redis-server`` on a free port (``redis-server sentinel.conf --sentinel`` for the
sentinels), with passwords on both the data nodes (``requirepass``/``masterauth``) and the sentinels
(``requirepass``, distinct): the URL's password and ``redis.sentinel_password`` are both exercised.
``down-after-milliseconds`` 1000 and a short ``failover-timeout`` make a failover take a few seconds.
Passwords go in the config files (mode 0600), never on a command line (``ps`` would show them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.conftest import free_port, require_binary, wait_until

MASTER_NAME = "graphwiz-ha"
DATA_PASSWORD = "SECRET-redis-data-pw"
SENTINEL_PASSWORD = "SECRET-sentinel-pw"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


def _write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class SentinelCluster:
    """``start()``, ``url`` (kombu's sentinel form), ``settings_yaml()``, ``kill_primary()``, ``master_port()``."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_binary("redis-server")
        self.workdir = workdir
        self.data_ports = [free_port(), free_port()]  # [0] starts as primary, [1] as its replica
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.initial_primary = self.data_ports[0]

    @property
    def url(self) -> str:
        return ";".join(f"sentinel://:{DATA_PASSWORD}@127.0.0.1:{port}" for port in self.sentinel_ports) + "/0"

    def settings(self, **extra: object) -> dict[str, object]:
        """The ``redis`` section for this deployment."""
        return {"url": self.url, "sentinel_master": MASTER_NAME, "sentinel_password": SENTINEL_PASSWORD, **extra}

    def settings_yaml(self) -> str:
        return (f"  sentinel_master: {MASTER_NAME}\n  sentinel_password: {SENTINEL_PASSWORD}\n")

    def start(self) -> SentinelCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        primary, replica = self.data_ports
        self._data_node(primary, None)
        self._data_node(replica, primary)
        wait_until(lambda: self._replica_in_sync(primary), timeout=15, message="the replica in sync")
        for port in self.sentinel_ports:
            self._sentinel(port, primary)
        wait_until(self._sentinels_ready, timeout=20, message="three sentinels that know each other and the replica")
        return self

    def _spawn(self, port: int, conf: Path, *extra: str) -> None:
        log = self.workdir / f"redis-{port}.log"
        self.procs[port] = subprocess.Popen([self.binary, str(conf), *extra, "--logfile", str(log)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _data_node(self, port: int, primary: int | None) -> None:
        directory = self.workdir / f"data-{port}"
        directory.mkdir(exist_ok=True)
        lines = [f"port {port}", "bind 127.0.0.1", f'dir "{directory}"', "appendonly yes", "appendfsync everysec",
                 'save ""', "maxmemory-policy noeviction", "shutdown-timeout 0", f'requirepass "{DATA_PASSWORD}"',
                 f'masterauth "{DATA_PASSWORD}"', "repl-diskless-sync yes", "repl-diskless-sync-delay 0"]
        if primary is not None:
            lines.append(f"replicaof 127.0.0.1 {primary}")
        self._spawn(port, _write_private(self.workdir / f"redis-{port}.conf", "\n".join(lines) + "\n"))
        wait_until(lambda: self._answers(port, DATA_PASSWORD), timeout=10, message=f"redis-server on {port}")

    def _sentinel(self, port: int, primary: int) -> None:
        lines = [f"port {port}", "bind 127.0.0.1", f'dir "{self.workdir}"',
                 f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2",
                 f'sentinel auth-pass {MASTER_NAME} "{DATA_PASSWORD}"',
                 f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}",
                 f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}",
                 f"sentinel parallel-syncs {MASTER_NAME} 1",
                 f'requirepass "{SENTINEL_PASSWORD}"', f'sentinel sentinel-pass "{SENTINEL_PASSWORD}"']
        # Sentinel rewrites its config file (it must be writable): one file per sentinel.
        self._spawn(port, _write_private(self.workdir / f"sentinel-{port}.conf", "\n".join(lines) + "\n"),
                    "--sentinel")
        wait_until(lambda: self._answers(port, SENTINEL_PASSWORD), timeout=10, message=f"sentinel on {port}")

    @staticmethod
    def _answers(port: int, password: str) -> bool:
        try:
            with redis.Redis(port=port, password=password, socket_timeout=0.5, socket_connect_timeout=0.5) as c:
                return bool(c.ping())
        except redis.RedisError:
            return False

    @staticmethod
    def _replica_in_sync(primary: int) -> bool:
        with redis.Redis(port=primary, password=DATA_PASSWORD, socket_timeout=1) as c:
            info = c.info("replication")
        return int(info.get("connected_slaves", 0)) >= 1 and info.get("slave0", {}).get("state") == "online"

    def _sentinels_ready(self) -> bool:
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, password=SENTINEL_PASSWORD, socket_timeout=1, decode_responses=True) as c:
                    state = c.execute_command("SENTINEL", "MASTER", MASTER_NAME)
            except redis.RedisError:
                return False
            fields = state if isinstance(state, dict) else dict(zip(state[::2], state[1::2], strict=False))
            if int(fields.get("num-other-sentinels", 0)) < 2 or int(fields.get("num-slaves", 0)) < 1:
                return False
        return True

    def master_port(self) -> int | None:
        """The master's port as the sentinels' majority report it now (None when none answers)."""
        seen: list[int] = []
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, password=SENTINEL_PASSWORD, socket_timeout=0.5,
                                 decode_responses=True) as c:
                    seen.append(int(c.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)[1]))
            except (redis.RedisError, TypeError, IndexError):
                continue
        return max(set(seen), key=seen.count) if seen else None

    def kill_primary(self) -> int:
        """kill -9 the current master; returns its port."""
        port = self.master_port()
        assert port is not None, "no sentinel reports a master"
        proc = self.procs[port]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        return port

    def wait_promoted(self, old: int, timeout: float = 30) -> tuple[int, float]:
        """(new master port, time.time() when every sentinel reported it and it answers as master)."""
        def promoted() -> int | None:
            port = self.master_port()
            if port is None or port == old:
                return None
            with redis.Redis(port=port, password=DATA_PASSWORD, socket_timeout=0.5, decode_responses=True) as c:
                return port if c.info("replication").get("role") == "master" else None
        port = wait_until(promoted, timeout=timeout, interval=0.02, message="sentinels to promote the replica")
        return int(port), time.time()

    def rejoin(self, port: int, timeout: float = 30) -> None:
        """Start the killed node ``port`` again; the sentinels turn it into a replica of the new master."""
        self._spawn(port, self.workdir / f"redis-{port}.conf")

        def replica_in_sync() -> bool:
            try:
                with redis.Redis(port=port, password=DATA_PASSWORD, socket_timeout=0.5, decode_responses=True) as c:
                    info = c.info("replication")
            except redis.RedisError:
                return False
            return info.get("role") == "slave" and info.get("master_link_status") == "up"
        wait_until(replica_in_sync, timeout=timeout, interval=0.05, message="the old primary back as a replica")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
