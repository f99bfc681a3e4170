"""Every PromQL expression of every committed dashboard works against a real Prometheus.

1. Parsing: each expression (Grafana variables set to All) is accepted by Prometheus' query API.
2. Live: after `graphwiz-monitoring run --demo` has fed a Prometheus that scrapes the exporter (and
   loads the exported alert rules), each expression returns at least one series, except the ones the
   builder documents as condition-only (e.g. "alerts firing"); every alert rule evaluates without error.
   A one-minute demo cannot have a week of history, so before it starts the test ingests backdated
   trades and portfolio snapshots (as a trader that ran for a week would have): Sharpe ratio, the
   1 h / 24 h / 7 d returns and the position correlation need them.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from graphwiz_monitoring.config import DEFAULT_CHECKS, parse_settings
from graphwiz_monitoring.dashboards import builtin_dashboards
from graphwiz_monitoring.dashboards.prometheus_rules import SCRAPE_JOB
from graphwiz_monitoring.metrics.ingest import ingest_batch
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import ROOT, free_port, require_binary, wait_until
from tests.fakes.promql_lint import committed_dashboards, dashboard_exprs

RULES = ROOT / "dashboards" / "prometheus-rules.yml"
DAY_SECONDS = 86_400
ALL = {"$host": ".*", "$exchange": ".*", "$agent": ".*"}  # Grafana's "All" for a multi-value variable


def concrete(expr: str) -> str:
    for variable, value in ALL.items():
        expr = expr.replace(variable, value)
    return expr


def _http_json(url: str, data: dict[str, str] | None = None) -> tuple[int, dict]:
    """(status, JSON body or {}); status 0 when nothing answers."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with urllib.request.urlopen(url, data=body, timeout=5) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except OSError:
        return 0, {}
    try:
        return status, json.loads(raw)
    except ValueError:  # plain-text endpoints (/-/ready) and "Service Unavailable" while starting
        return status, {}


class Prometheus:
    """A real prometheus server on a free port with its own storage."""

    def __init__(self, workdir: Path, scrape_target: str | None) -> None:
        binary = require_binary("prometheus")
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(RULES)],
                  "scrape_configs": [{"job_name": SCRAPE_JOB, "static_configs": [{"targets": [scrape_target]}]}]
                  if scrape_target else []}
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(workdir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: self.proc.poll() is not None or _http_json(f"{self.url}/-/ready")[0] == 200,
                       timeout=30, message="prometheus ready")
            assert self.proc.poll() is None, (workdir / "prometheus.log").read_text(errors="replace")[-2000:]
        except BaseException:  # never leave a server behind when start-up fails (pytest.fail is a BaseException)
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, expr: str) -> tuple[int, dict]:
        return _http_json(f"{self.url}/api/v1/query", {"query": expr})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()


def all_exprs() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expression) of every committed dashboard."""
    return [(name, panel["title"], expr) for name, dashboard in committed_dashboards().items()
            for panel, expr in dashboard_exprs(dashboard)]


def condition_only() -> set[str]:
    return {t.expr for d in builtin_dashboards().values() for _, t in d.targets() if t.condition_only}


def test_every_dashboard_expression_parses_in_prometheus(tmp_path: Path) -> None:
    prometheus = Prometheus(tmp_path / "prom", None)
    try:
        status, body = prometheus.query("rate(graphwiz_trading_pnl_usd[5m]")  # the check itself can fail
        assert status == 400 and body["errorType"] == "bad_data"
        rejected = []
        for name, title, expr in all_exprs():
            status, body = prometheus.query(concrete(expr))
            if status != 200 or body.get("status") != "success":
                rejected.append(f"{name} / {title}: {expr}: {body.get('error')}")
        assert not rejected, "\n".join(rejected)
    finally:
        prometheus.stop()


def _demo_config(tmp_path: Path, redis_url: str, exporter_port: int) -> Path:
    checks = {name: {"interval_seconds": 2} for name in DEFAULT_CHECKS}
    config = {
        "redis": {"url": redis_url},
        "monitoring": {"prometheus_port": exporter_port, "metrics_interval_seconds": 1,
                       "rule_evaluation_interval_seconds": 1},
        "websocket": {"port": free_port()},
        "health_checks": {"checks": checks},
        "trader": {"journal_dir": str(tmp_path / "journal"), "host_metrics_interval_seconds": 1,
                   "heartbeat_interval_seconds": 1},
    }
    path = tmp_path / "monitoring.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def seed_trader_history(redis_url: str) -> None:
    """Backdated trades on the last three days and portfolio snapshots 7 d, 24 h, 1 h and minutes ago."""
    now = time.time()
    records = [{"kind": "trade", "data": {
        "symbol": "BTC/USDT", "side": "buy", "price": 50_000.0, "quantity": 0.1,
        "pnl": (150.0 if (i + days) % 3 else -90.0) * days, "timestamp": now - days * DAY_SECONDS + i * 60}}
        for days in (3, 2, 1) for i in range(4)]
    snapshots = [(now - 7 * DAY_SECONDS - 600, 95_000.0), (now - DAY_SECONDS - 600, 99_000.0),
                 (now - 3600 - 600, 99_500.0)] + [(now - 1200 + i * 120, 100_000.0 + 50 * i) for i in range(8)]
    for i, (at, value) in enumerate(snapshots):
        positions = [{"symbol": "BTC/USDT", "quantity": 0.1, "price": 50_000 * (1 + 0.01 * math.sin(i))},
                     {"symbol": "ETH/USDT", "quantity": 1.0, "price": 3_000 * (1 + 0.012 * math.sin(i + 0.5))}]
        records.append({"kind": "portfolio", "data": {"value": value, "timestamp": at, "positions": positions}})
    settings = parse_settings({"redis": {"url": redis_url}}, env={})
    store = Store(settings.redis.url)
    try:
        result = ingest_batch(store, KeySpace(settings.redis.namespace), settings,
                              {"batch_id": "seeded-history", "records": records})
    finally:
        store.close()
    assert not result.rejected and result.accepted == {"portfolio": 11, "trade": 12}


@pytest.fixture
def demo_run(tmp_path: Path, redis_url: str) -> Iterator[int]:
    """A week of seeded history, then `graphwiz-monitoring run --demo` on the test Redis; yields the exporter port."""
    seed_trader_history(redis_url)
    exporter_port = free_port()
    config = _demo_config(tmp_path, redis_url, exporter_port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHWIZ_")}
    env["PYTHONUNBUFFERED"] = "1"
    log = open(tmp_path / "run.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "graphwiz_monitoring.cli", "--config", str(config), "run", "--demo",
                             "--state-dir", str(tmp_path / "state")],
                            cwd=str(tmp_path), env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield exporter_port
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_after_a_demo_run_every_expression_returns_series(tmp_path: Path, demo_run: int) -> None:
    prometheus = Prometheus(tmp_path / "prom", f"127.0.0.1:{demo_run}")
    optional = condition_only()
    required = [(n, t, e) for n, t, e in all_exprs() if e not in optional]
    try:
        wait_until(lambda: _series(prometheus, f'up{{job="{SCRAPE_JOB}"}} == 1'), timeout=60,
                   message="prometheus scraping the demo's exporter")
        empty: list[str] = []

        def all_answer() -> bool:
            empty[:] = [f"{n} / {t}: {e}" for n, t, e in required if not _series(prometheus, concrete(e))]
            return not empty

        deadline = time.monotonic() + 60
        while not all_answer() and time.monotonic() < deadline:
            time.sleep(1)
        assert not empty, "expressions without any series after the demo run:\n" + "\n".join(empty)
        status, body = _http_json(f"{prometheus.url}/api/v1/rules")
        rules = [r for g in body["data"]["groups"] for r in g["rules"]]
        assert len(rules) == 22 and all(r["health"] == "ok" for r in rules), [
            (r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    finally:
        prometheus.stop()


def _series(prometheus: Prometheus, expr: str) -> list:
    status, body = prometheus.query(expr)
    return body.get("data", {}).get("result", []) if status == 200 else []
