"""Issue 15 settings: beat.failover_seconds (and what the scheduler derives from it), the dead-man's switch URLs."""

from __future__ import annotations

import pytest

from graphwiz_monitoring.celery.beat import build_beat_schedule, redbeat_settings
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import ConfigError
from graphwiz_monitoring.tasks import HEARTBEAT

URL = "https://hc-ping.example/3c1f-SECRETUUID"


def test_failover_seconds_derives_the_lock_ttl_and_the_poll() -> None:
    settings = parse_settings({}, env={})
    assert settings.beat.failover_seconds == 30
    assert (settings.beat.lock_timeout_seconds, settings.beat.poll_seconds) == (18, 6.0)
    conf = redbeat_settings(parse_settings({"beat": {"failover_seconds": 5}}, env={}))
    assert conf["redbeat_lock_timeout"] == 3 and conf["beat_max_loop_interval"] == 1.0
    assert conf["redbeat_lock_key"] == "graphwiz:beat:lock" and conf["redbeat_key_prefix"] == "graphwiz:beat:"
    # takeover bound: lock TTL + one standby poll, within the failover time
    for failover in (2, 5, 30, 300):
        beat = parse_settings({"beat": {"failover_seconds": failover}}, env={}).beat
        assert beat.lock_timeout_seconds + beat.poll_seconds <= failover
        assert beat.lock_timeout_seconds >= 2 * beat.poll_seconds or failover < 5  # renewals to spare


@pytest.mark.parametrize("value", [1, 0, -3, "soon", float("inf")])
def test_a_bad_failover_names_the_field_and_the_value(value) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"beat": {"failover_seconds": value}}, env={})
    assert "beat.failover_seconds" in str(err.value) and repr(value) in str(err.value)


def test_the_heartbeat_is_scheduled_only_with_a_url_and_the_url_stays_secret() -> None:
    assert "monitoring.heartbeat" not in build_beat_schedule(parse_settings({}, env={}))
    assert "monitoring.heartbeat" not in build_beat_schedule(
        parse_settings({"monitoring": {"heartbeat_url": ""}}, env={}))
    settings = parse_settings({"monitoring": {"heartbeat_url": URL, "heartbeat_interval_seconds": 30,
                                              "watchdog_url": URL + "-2"}}, env={})
    entry = build_beat_schedule(settings)["monitoring.heartbeat"]
    assert entry["task"] == HEARTBEAT and entry["schedule"] == 30 and entry["args"] == ()
    assert entry["options"]["headers"]["graphwiz_max_age"] == 30  # a late ping is discarded, never sent
    assert "SECRETUUID" not in repr(entry) and "SECRETUUID" not in repr(settings.masked())
    with pytest.raises(ConfigError) as err:
        parse_settings({"monitoring": {"heartbeat_url": ["https://x/SECRETUUID"]}}, env={})
    assert "SECRETUUID" not in str(err.value) and "monitoring.heartbeat_url" in str(err.value)


def test_the_heartbeat_task_runs_on_notify_log() -> None:
    from graphwiz_monitoring.celery.routing import route_task

    assert route_task(HEARTBEAT, (), {}, {}) == {"queue": "notify.log"}


def test_only_a_beat_process_imports_redbeat() -> None:
    """A trader imports the Celery package for its sender: celery-redbeat stays out of it."""
    import subprocess
    import sys

    code = "import sys, graphwiz_monitoring.celery as c; c.create_app; print('redbeat' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
