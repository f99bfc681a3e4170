"""Scenario 7 (security), attack surface: no eval/exec in the code, loopback binds by default (checked on
running processes), the realtime server refuses unauthenticated clients and refuses to start exposed
without a token, Flower refuses to start exposed without a password, webhook signatures verify.
"""

from __future__ import annotations

import ast
import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from graphwiz_monitoring.alerting.channels.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookChannel,
    verify_signature,
)
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity
from graphwiz_monitoring.celery.flower import flower_options
from graphwiz_monitoring.config import Settings, parse_settings
from graphwiz_monitoring.errors import ConfigError
from graphwiz_monitoring.realtime.access import is_loopback_host
from tests.conftest import ROOT, child_env, free_port, wait_until, write_config

pytestmark = pytest.mark.chaos

SOURCE_DIRS = (ROOT / "graphwiz_monitoring", ROOT / "workers")
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "execfile"}
FORBIDDEN_TEXT = re.compile(r"(?<![\w.])(eval|exec|compile)\s*\(|yaml\.(unsafe_)?load\(|pickle\.loads?\(|"
                            r"marshal\.loads?\(|shell\s*=\s*True|os\.system\(")
WS_TOKEN = "SECRET-ws-token-for-the-surface-test"


def python_files() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in d.rglob("*.py"))


def test_no_eval_exec_or_unsafe_loading_in_the_code() -> None:
    files = python_files()
    assert len(files) > 50  # the walk really covers the package
    calls, texts = [], []
    for path in files:
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if (
                    isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    and func.value.id == "builtins") else None
                if name in FORBIDDEN_CALLS:
                    calls.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}()")
        for number, line in enumerate(source.splitlines(), 1):
            if FORBIDDEN_TEXT.search(line.split("#", 1)[0]):
                texts.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert calls == [] and texts == []


def test_every_listener_defaults_to_loopback() -> None:
    defaults = Settings()
    for host in (defaults.monitoring.prometheus_host, defaults.websocket.host, defaults.flower.host):
        assert is_loopback_host(host), host
    assert defaults.websocket.token is None and defaults.flower.basic_auth_password is None


def non_loopback_addresses() -> list[str]:
    return [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
            if a.family == socket.AF_INET and not a.address.startswith("127.")]


def listening(pid: int) -> list[tuple[str, int]]:
    try:
        conns = psutil.Process(pid).net_connections(kind="inet")
    except psutil.NoSuchProcess:
        return []
    return [(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]


def connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class Cli:
    """`graphwiz-monitoring --config <file> <command>` as a child process."""

    def __init__(self, tmp_path: Path, redis_url: str, extra: str, *command: str) -> None:
        config = write_config(tmp_path / f"{command[0]}.yaml", redis_url, extra)
        self.log = tmp_path / f"{command[0]}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "graphwiz_monitoring.cli", "--config", str(config), *command],
                cwd=str(ROOT), env=child_env(config, redis_url, tmp_path / "state"), stdout=out,
                stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def cli(tmp_path: Path, redis_url: str) -> Iterator[object]:
    started: list[Cli] = []

    def start(extra: str, *command: str) -> Cli:
        process = Cli(tmp_path, redis_url, extra, *command)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def test_exporter_and_realtime_started_with_defaults_listen_on_loopback_only(cli) -> None:
    exporter_port, ws_port = free_port(), free_port()
    # Only the ports are set: host, token and everything else are the defaults.
    extra = f"monitoring:\n  prometheus_port: {exporter_port}\nwebsocket:\n  port: {ws_port}\n"
    exporter = cli(extra, "exporter")
    realtime = cli(extra, "realtime")
    for process, port in ((exporter, exporter_port), (realtime, ws_port)):
        found = wait_until(lambda p=process, q=port: [a for a in listening(p.proc.pid) if a[1] == q], timeout=30,
                           message=f"a listener on {port}")
        assert all(is_loopback_host(ip) for ip, _ in found), found
        assert connects("127.0.0.1", port)
        for address in non_loopback_addresses():  # reachable from this host's other interfaces: must not be
            assert not connects(address, port), f"{address}:{port} accepts connections"


def test_realtime_refuses_to_start_exposed_without_a_token(cli) -> None:
    process = cli(f"websocket:\n  host: 0.0.0.0\n  port: {free_port()}\n", "realtime")
    assert process.proc.wait(30) != 0
    assert "websocket.token" in process.output() and "required" in process.output()


def refused_status(url: str, **kwargs: object) -> int:
    with pytest.raises(InvalidStatus) as info:
        with connect(url, open_timeout=5, **kwargs):
            pass
    return info.value.response.status_code


def test_exposed_realtime_refuses_unauthenticated_clients(cli) -> None:
    port = free_port()
    process = cli(f"websocket:\n  host: 0.0.0.0\n  port: {port}\n  token: {WS_TOKEN}\n", "realtime")
    wait_until(lambda: [a for a in listening(process.proc.pid) if a[1] == port], timeout=30, message="listener")
    for host in ["127.0.0.1", *non_loopback_addresses()[:1]]:
        url = f"ws://{host}:{port}/ws"
        assert refused_status(url) == 401
        assert refused_status(url + "?token=wrong") == 401
        assert refused_status(url, additional_headers={"Authorization": "Bearer " + WS_TOKEN[:-1]}) == 401
        with connect(url + f"?token={WS_TOKEN}", open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        with connect(url, open_timeout=5, additional_headers={"Authorization": f"Bearer {WS_TOKEN}"}) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
    time.sleep(0.2)
    assert WS_TOKEN not in process.output()  # not even in the request lines it logged


def test_flower_refuses_to_start_exposed_without_a_password(cli) -> None:
    with pytest.raises(ConfigError, match="flower.basic_auth_password"):
        flower_options(parse_settings({"flower": {"host": "0.0.0.0"}}, env={}))
    options = flower_options(parse_settings({"flower": {"host": "0.0.0.0", "basic_auth_password": "pw-123456"}},
                                            env={}))
    assert options["basic_auth"] == ["admin:pw-123456"] and options["address"] == "0.0.0.0"
    process = cli(f"flower:\n  host: 0.0.0.0\n  port: {free_port()}\n", "flower")
    assert process.proc.wait(30) != 0
    assert "flower.basic_auth_password" in process.output()


def test_webhook_signatures_verify_and_tampering_is_refused() -> None:
    secret = "SECRET-hmac-key-for-the-surface-test"
    settings = parse_settings({"notifications": {"webhook": {"url": "http://127.0.0.1:9/hook", "secret": secret}}},
                              env={})
    channel = WebhookChannel(settings.notifications.webhook)
    alert = Alert(rule_name="large_loss", title="Drawdown 12%", message="m", severity=AlertSeverity.CRITICAL)
    now = time.time()
    body, headers = channel.request(alert, "firing", now=now)
    assert headers[SIGNATURE_HEADER].startswith("sha256=") and headers[TIMESTAMP_HEADER] == str(int(now))
    assert verify_signature(secret, body, headers, now=now)
    assert verify_signature(secret, body, {k.lower(): v for k, v in headers.items()}, now=now + 299)
    assert not verify_signature(secret, body + b" ", headers, now=now)  # tampered body
    assert not verify_signature(secret, body.replace(b"12%", b"1%"), headers, now=now)
    assert not verify_signature("wrong-secret", body, headers, now=now)
    assert not verify_signature(secret, body, headers, now=now + 301)  # replayed after the tolerance
    assert not verify_signature(secret, body, headers, now=now - 301)  # from the future
    replayed = {**headers, TIMESTAMP_HEADER: str(int(now) + 100)}  # a fresh timestamp on an old signature
    assert not verify_signature(secret, body, replayed, now=now + 100)
    for broken in ({SIGNATURE_HEADER: headers[SIGNATURE_HEADER]}, {TIMESTAMP_HEADER: headers[TIMESTAMP_HEADER]},
                   {**headers, SIGNATURE_HEADER: headers[SIGNATURE_HEADER].removeprefix("sha256=")},
                   {**headers, TIMESTAMP_HEADER: "soon"}):
        assert not verify_signature(secret, body, broken, now=now)
    # A configured header cannot override the signature.
    forged = parse_settings({"notifications": {"webhook": {
        "url": "http://127.0.0.1:9/hook", "secret": secret,
        "headers": {SIGNATURE_HEADER: "sha256=forged", TIMESTAMP_HEADER: "1"}}}}, env={})
    _, forged_headers = WebhookChannel(forged.notifications.webhook).request(alert, "firing", now=now)
    assert verify_signature(secret, body, forged_headers, now=now)
