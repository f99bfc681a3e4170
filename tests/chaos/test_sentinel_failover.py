"""Issue 15 item 1: the primary Redis killed with -9 under load; Sentinel promotes the replica and every
process follows by itself (tests/chaos/sentinel_scenario.py runs it; bench/sentinel_failover.py is the
2,000 trades/s version whose figures docs/RELIABILITY.md publishes).

Asserted: trades counted exactly; every alert created is notified exactly once (an alert whose
creation raised was refused to its caller: counted, not promised); ingest counts trades again within
15 s of the promotion; the exporter serves figures from the new master, the realtime server relays
its events, a CLI command started after the promotion works; worker, beat, exporter and realtime are
the same processes before and after.
"""

from __future__ import annotations

import logging

import pytest

from tests.chaos import sentinel_scenario
from tests.fakes.sentinel_cluster import DATA_PASSWORD, SENTINEL_PASSWORD

pytestmark = [pytest.mark.chaos, pytest.mark.e2e]

INGEST_RESUME_TARGET_SECONDS = 15


def test_primary_killed_sentinels_promote_and_nothing_needs_a_restart(tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # the trader's own log lines (it runs in this process)
    outcome = sentinel_scenario.run(tmp_path, rate=500, before_seconds=1, after_seconds=2)
    print("\n" + "\n".join(outcome.lines()))
    assert outcome.pids_after == outcome.pids_before, "a process died or needed a restart"
    assert outcome.record_errors == []
    assert outcome.trades_counted == outcome.trades_recorded
    assert outcome.alerts_created and outcome.alerts_missing == [] and outcome.alerts_duplicated == []
    assert outcome.ingest_resumed_after < INGEST_RESUME_TARGET_SECONDS
    # The worker hardening holds: a malformed queue item is dropped (the worker lives on: pids above), and the
    # dead-worker requeue's heartbeat follows the failover.
    assert outcome.malformed_dropped == 1 and outcome.heartbeat_on_new_master
    # Beat went on scheduling (a rule evaluation it sent ran after the promotion).
    assert outcome.beat_task_after is not None and outcome.beat_task_after < INGEST_RESUME_TARGET_SECONDS
    # The exporter, the realtime server and the CLI follow the new master too.
    assert outcome.exporter_ok_after < INGEST_RESUME_TARGET_SECONDS
    assert outcome.realtime_events_after_promotion > 0
    assert outcome.cli_status_exit == 0
    # Neither password (the data nodes', the sentinels') in a log, a process's command line or CLI output.
    assert outcome.secrets_seen == []
    assert DATA_PASSWORD not in caplog.text and SENTINEL_PASSWORD not in caplog.text
