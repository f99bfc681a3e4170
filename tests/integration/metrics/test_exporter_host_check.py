"""Finding 8 (issue 11): the exporter answers only requests whose Host (and Origin) it was meant for.

A DNS-rebinding page (evil.example resolving to 127.0.0.1) makes the victim's browser send
``Host: evil.example:<port>`` to the exporter; before the fix /metrics and /snapshot answered 200 with
the P&L. The real ``graphwiz-monitoring exporter`` process is started, as docker-compose does, with an
allow-listed service name (``exporter``) so Prometheus can scrape it by that name.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from graphwiz_monitoring.metrics import ingest
from tests.conftest import ROOT, free_port, wait_until, write_config

PNL = "4321.5"  # a P&L no other number in the exposition has


@pytest.fixture
def exporter_process(tmp_path, redis_url, store, keys, settings) -> Iterator[int]:
    """A real exporter process on a free port, `exporter` allow-listed, with a trade of P&L ``PNL`` in Redis."""
    trade = {"symbol": "BTC/USDT", "side": "buy", "price": 10.0, "quantity": 1.0, "exchange": "binance",
             "pnl": float(PNL)}
    ingest.ingest_batch(store, keys, settings, {"batch_id": "b1", "records": [{"kind": "trade", "data": trade}]})
    port = free_port()
    config = write_config(tmp_path / "monitoring.yaml", redis_url,
                          "monitoring:\n  prometheus_allowed_hosts: [exporter]\n")
    log = open(tmp_path / "exporter.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "graphwiz_monitoring.cli", "--config", str(config), "exporter",
                             "--host", "127.0.0.1", "--port", str(port)], cwd=str(ROOT),
                            stdout=log, stderr=subprocess.STDOUT)

    def healthy() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return proc.poll() is not None

    try:
        wait_until(healthy, timeout=30, message="exporter /healthz")
        assert proc.poll() is None, (tmp_path / "exporter.log").read_text(errors="replace")[-3000:]
        yield port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _get(port: int, path: str, **headers: str) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=10)


def test_dns_rebinding_host_gets_no_pnl_from_the_exporter(exporter_process: int) -> None:
    port = exporter_process
    for path in ("/metrics", "/", "/snapshot", "/healthz", "/nope"):
        for host in (f"evil.example:{port}", "evil.example", f"exporter.evil.example:{port}", f"localhost.evil:{port}"):
            refused = _get(port, path, Host=host)
            assert refused.status_code == 403, (path, host, refused.status_code)
            assert PNL not in refused.text and "pnl" not in refused.text.lower(), (path, host)
            assert "prometheus_allowed_hosts" in refused.text  # says which setting lets a name in

    # Loopback names and addresses, the allow-listed service name (any port), and IP literals pass.
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", f"exporter:{port}", "exporter:8000",
                 "Exporter", "192.0.2.10:8000"):
        response = _get(port, "/metrics", Host=host)
        assert response.status_code == 200, (host, response.status_code)
        assert f"graphwiz_trading_pnl_usd {PNL}" in response.text, host
    snapshot = _get(port, "/snapshot", Host="exporter:8000")
    assert snapshot.status_code == 200 and PNL in snapshot.text
    assert _get(port, "/healthz", Host=f"127.0.0.1:{port}").status_code == 200


def test_dns_rebinding_bad_origin_is_refused_by_the_exporter(exporter_process: int) -> None:
    port = exporter_process
    for path in ("/metrics", "/snapshot", "/healthz"):
        for origin in ("http://evil.example", f"http://evil.example:{port}", "null",
                       f"http://127.0.0.1:{port + 1}"):
            refused = _get(port, path, Host=f"127.0.0.1:{port}", Origin=origin)
            assert refused.status_code == 403, (path, origin, refused.status_code)
            assert PNL not in refused.text
    # A page the exporter itself would serve (same scheme, host and port) is same-origin.
    same = _get(port, "/metrics", Host=f"127.0.0.1:{port}", Origin=f"http://127.0.0.1:{port}")
    assert same.status_code == 200 and PNL in same.text
