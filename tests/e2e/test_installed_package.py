"""An installed graphwiz-monitoring beside a trading bot whose own package is named ``workers``.

A fresh venv outside the repository gets ``pip install <repo>`` (its dependencies come from the
test environment's site-packages through a .pth file); then, from a folder
holding the bot's own ``workers/__init__.py``, ``celery -A graphwiz_monitoring worker`` starts and a
``workers.ingest.record_trade`` task sent by name is counted. Before the task modules were installed
under graphwiz_monitoring.workers, the bot's package shadowed them (``No module named 'workers.ingest'``).
"""

from __future__ import annotations

import os
import signal
import site
import subprocess
import venv
from pathlib import Path

import pytest
from celery import Celery

from tests.conftest import ROOT, wait_until, write_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv outside the repository with the project installed (not editable)."""
    home = tmp_path_factory.mktemp("installed")
    venv.EnvBuilder(with_pip=True).create(home / "venv")
    python = home / "venv" / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # Dependencies from this environment; the .pth files there (the editable install) are not processed.
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # The build backend (setuptools >= 77) comes from PyPI, as for any user's `pip install`.
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", str(ROOT)],
                   check=True, capture_output=True, timeout=300, cwd=home)
    return python


def test_installs_no_top_level_workers_package(installed: Path, tmp_path: Path) -> None:
    probe = ("import importlib.util, graphwiz_monitoring.workers.ingest as m; "
             "print(importlib.util.find_spec('workers') is None, m.__file__)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([installed, "-c", probe], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    missing, path = out.split()
    assert missing == "True"  # nothing named `workers` is installed
    assert not path.startswith(str(ROOT))  # the installed copy, not the repository's


def test_worker_starts_beside_a_bot_with_its_own_workers_package(installed: Path, tmp_path: Path, redis_url: str,
                                                                 store, keys) -> None:
    bot = tmp_path / "bot"
    (bot / "workers").mkdir(parents=True)
    (bot / "workers" / "__init__.py").write_text('"""The trading bot\'s own workers package."""\n')
    (bot / "workers" / "ingest.py").write_text("raise RuntimeError('the bot module was imported')\n")
    config = write_config(bot / "monitoring.yaml", redis_url)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRAPHWIZ_REDIS_URL")}
    env.update(GRAPHWIZ_CONFIG=str(config), GRAPHWIZ_STATE_DIR=str(bot / ".graphwiz"), PYTHONUNBUFFERED="1")
    log = bot / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([installed, "-m", "celery", "-A", "graphwiz_monitoring", "worker", "-Q", "ingest",
                                   "-c", "1", "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
                                  cwd=bot, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "ready." in log.read_text(errors="replace") or worker.poll() is not None, timeout=60,
                   message="the installed worker to start")
        assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
        client = Celery(broker=redis_url)  # the trader's own plain Celery app, as in the README
        trade = {"symbol": "BTC/USDT", "side": "buy", "price": 50_000, "quantity": 0.1, "pnl": 5.0}
        client.send_task("workers.ingest.record_trade", args=[trade], queue="ingest")
        wait_until(lambda: store.r.hget(keys.trading_agg, "total_trades") == "1", timeout=30,
                   message="the trade to be counted by the installed worker")
        assert "the bot module was imported" not in log.read_text(errors="replace")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
