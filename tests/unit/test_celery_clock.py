"""Max-age stamps of scheduled tasks (celery/clock.py): stamped on the Redis clock, re-based onto the worker's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from graphwiz_monitoring.celery import build_beat_schedule
from graphwiz_monitoring.celery.clock import (
    COUNTDOWN_HEADER,
    MAX_AGE_HEADER,
    SENT_AT_HEADER,
    read_stamp,
    rebased,
    stamp,
)
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import StateError

REDIS_NOW = 1_800_000_000.0


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def test_clock_skew_every_beat_entry_asks_for_a_max_age_of_its_interval() -> None:
    schedule = build_beat_schedule(parse_settings({}, env={}))
    for name, entry in schedule.items():
        assert entry["options"]["headers"] == {MAX_AGE_HEADER: entry["schedule"]}, name


def test_clock_skew_stamp_adds_redis_time_and_countdown_without_touching_the_entry() -> None:
    entry_headers = {MAX_AGE_HEADER: 5.0}
    options = {"headers": entry_headers, "countdown": 0.5}
    stamp(options, lambda: REDIS_NOW)
    assert options["headers"] == {MAX_AGE_HEADER: 5.0, SENT_AT_HEADER: REDIS_NOW, COUNTDOWN_HEADER: 0.5}
    assert entry_headers == {MAX_AGE_HEADER: 5.0}  # beat reuses the entry's dict for every send
    restamped = {"headers": options["headers"]}
    stamp(restamped, lambda: REDIS_NOW + 7)  # a retry: the age counts from the latest publish
    assert restamped["headers"][SENT_AT_HEADER] == REDIS_NOW + 7 and restamped["headers"][COUNTDOWN_HEADER] == 0.0


def test_clock_skew_unstamped_when_no_max_age_or_redis_is_down() -> None:
    plain: dict = {"countdown": 3}
    stamp(plain, lambda: REDIS_NOW)
    assert "headers" not in plain

    def down() -> float:
        raise StateError("Redis at redis://127.0.0.1:1/0: ConnectionError")

    options = {"headers": {MAX_AGE_HEADER: 5.0}}
    stamp(options, down)
    assert options["headers"] == {MAX_AGE_HEADER: 5.0}  # Celery's own expires applies
    assert read_stamp(options["headers"]) is None


@pytest.mark.parametrize("headers", [
    {}, {MAX_AGE_HEADER: 5.0}, {SENT_AT_HEADER: REDIS_NOW},
    {SENT_AT_HEADER: "soon", MAX_AGE_HEADER: 5.0}, {SENT_AT_HEADER: REDIS_NOW, MAX_AGE_HEADER: float("nan")},
    {SENT_AT_HEADER: REDIS_NOW, MAX_AGE_HEADER: 0}, {SENT_AT_HEADER: REDIS_NOW, MAX_AGE_HEADER: True},
    {SENT_AT_HEADER: REDIS_NOW, MAX_AGE_HEADER: 5.0, COUNTDOWN_HEADER: -1},
    {SENT_AT_HEADER: [1], MAX_AGE_HEADER: {"a": 1}},
    {SENT_AT_HEADER: 1e300, MAX_AGE_HEADER: 5.0}, {SENT_AT_HEADER: REDIS_NOW, MAX_AGE_HEADER: 1e300},
    {SENT_AT_HEADER: REDIS_NOW, MAX_AGE_HEADER: 5.0, COUNTDOWN_HEADER: 1e300},
])
def test_clock_skew_a_forged_or_partial_stamp_is_ignored(headers) -> None:
    assert read_stamp(headers) is None


@pytest.mark.parametrize("skew", [-3600.0, -300.0, 0.0, 60.0, 7200.0])
def test_clock_skew_expiry_and_eta_are_rebased_onto_the_local_clock(skew: float) -> None:
    found = read_stamp({SENT_AT_HEADER: REDIS_NOW, MAX_AGE_HEADER: 1.0, COUNTDOWN_HEADER: 0.25})
    assert found == (REDIS_NOW, 1.0, 0.25)
    received = REDIS_NOW + 0.1  # Redis time when the worker takes it
    expires, eta = rebased(found, received, received + skew)
    # On the worker's clock: 0.9 s of life left and due in 0.15 s, whatever the skew.
    assert expires == _at(received + skew + 0.9)
    assert eta == _at(received + skew + 0.15)
    assert rebased((REDIS_NOW, 1.0, 0.0), received, received + skew)[1] is None
