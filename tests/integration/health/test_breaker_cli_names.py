"""Finding 10 (issue 11): `breaker reset NAME` accepts only names of breakers the system has.

Before the fix a misspelt name exited 0 and created a breaker hash plus a member of the breakers
set, i.e. a new ``graphwiz_circuit_breaker_state{name=...}`` series from user input. The real CLI
runs as a child process against the test Redis.
"""

from __future__ import annotations

import subprocess
import sys

from graphwiz_monitoring.guards.breaker import BreakerState, CircuitBreaker
from tests.conftest import ROOT, write_config

CHECK_NAMES = ("agent_health", "api_rate_limits", "database_locks", "disk_space", "exchange_connectivity",
               "neo4j_connectivity", "portfolio_health", "system_resources")
CHANNEL_BREAKERS = ("channel.discord", "channel.email", "channel.slack", "channel.telegram", "channel.webhook")


def _cli(tmp_path, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = write_config(tmp_path / "monitoring.yaml", redis_url)
    return subprocess.run([sys.executable, "-m", "graphwiz_monitoring.cli", "--config", str(config), *args],
                          cwd=str(ROOT), capture_output=True, text=True, timeout=60)


def test_breaker_reset_of_a_misspelt_name_fails_and_creates_no_breaker(tmp_path, redis_url, store, keys) -> None:
    breaker = CircuitBreaker(store, keys, "exchange_connectivity")
    for _ in range(3):
        breaker.record_failure("refused")
    assert breaker.status().state is BreakerState.OPEN
    before = set(store.r.keys("*"))

    result = _cli(tmp_path, redis_url, "breaker", "reset", "exchange_conectivity")

    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "unknown breaker 'exchange_conectivity'" in message
    for name in (*CHECK_NAMES, *CHANNEL_BREAKERS):  # every breaker the system can have is listed
        assert name in message, name
    assert "channel.log" not in message  # the log channel is the fallback: it has no breaker
    # Nothing was written: no breaker hash, no member of the breakers set, no event, the real one still open.
    assert set(store.r.keys("*")) == before
    assert not store.r.exists(keys.breaker("exchange_conectivity"))
    assert store.r.smembers(keys.breakers) == {"exchange_connectivity"}
    assert breaker.status().state is BreakerState.OPEN


def test_breaker_reset_of_a_known_name_still_works(tmp_path, redis_url, store, keys) -> None:
    for name in ("exchange_connectivity", "channel.discord"):
        breaker = CircuitBreaker(store, keys, name)
        for _ in range(3):
            breaker.record_failure("refused")
        result = _cli(tmp_path, redis_url, "breaker", "reset", name)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{name}: closed"
        assert breaker.status().state is BreakerState.CLOSED
