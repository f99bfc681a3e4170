"""No sentinel answers: the store reports it (masked, bounded in time) and `run` starts no Redis of its own."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from graphwiz_monitoring.cli.supervisor import redis_child
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import GraphwizError, StateError
from graphwiz_monitoring.state import Store
from graphwiz_monitoring.state import store as store_module
from tests.conftest import free_port

PW = "hunter2-unreachable"


def settings():
    url = ";".join(f"sentinel://:{PW}@127.0.0.1:{free_port()}" for _ in range(3)) + "/0"
    return parse_settings({"redis": {"url": url, "sentinel_master": "graphwiz", "socket_timeout_seconds": 1}},
                          env={})


@pytest.fixture(autouse=True)
def fewer_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two failover retries instead of eight: the same path, a second instead of 3-5."""
    monkeypatch.setattr(store_module, "FAILOVER_RETRIES", 2)


def test_store_without_sentinels_raises_state_error_masked_after_its_retries() -> None:
    store = Store.from_settings(settings().redis)
    started = time.monotonic()
    with pytest.raises(StateError) as err:
        store.ping()
    assert time.monotonic() - started < 3  # the failover retries, then the outage path callers know
    text = str(err.value)
    assert PW not in text and "sentinel://:**********@127.0.0.1" in text and "graphwiz" in text


def test_run_starts_no_redis_for_a_sentinel_deployment(tmp_path: Path) -> None:
    with pytest.raises(GraphwizError) as err:
        redis_child(settings(), tmp_path)
    assert "starts no Redis for a Sentinel deployment" in str(err.value) and PW not in str(err.value)
