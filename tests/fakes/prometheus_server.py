"""A real Prometheus (Debian's /usr/bin/prometheus) on a free port, scraping given targets every second."""

from __future__ import annotations

import subprocess
from pathlib import Path

import requests

from tests.conftest import free_port, require_binary, wait_until


class PrometheusServer:
    """Start with ``targets`` (host:port); storage and config live in ``workdir``; ``stop()`` at the end."""

    def __init__(self, workdir: Path, targets: list[str], scrape_interval: str = "1s") -> None:
        self.binary = require_binary("prometheus")
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "prometheus.yml"
        target_list = ", ".join(f'"{t}"' for t in targets)
        config.write_text(
            f"global:\n  scrape_interval: {scrape_interval}\n  evaluation_interval: {scrape_interval}\n"
            f"scrape_configs:\n  - job_name: graphwiz\n    static_configs:\n      - targets: [{target_list}]\n",
            encoding="utf-8")
        self._log = open(workdir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h"],
            stdout=self._log, stderr=subprocess.STDOUT)
        wait_until(self._ready, timeout=30, message="prometheus ready")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        assert self.proc.poll() is None, (self.workdir / "prometheus.log").read_text(errors="replace")[-2000:]
        try:
            return requests.get(self.url + "/-/ready", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def targets_up(self) -> bool:
        data = requests.get(self.url + "/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        return bool(data) and all(t["health"] == "up" for t in data)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
