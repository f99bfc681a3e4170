"""Maintenance windows, pure (rulebook/maintenance.py): when one is open, what it covers, what config
it refuses, and the digest's schedule (health/digest.py ``due_at``)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.config.maintenance import DigestSettings
from graphwiz_monitoring.errors import ConfigError
from graphwiz_monitoring.health.digest import due_at
from graphwiz_monitoring.rulebook.maintenance import open_window, window_from_settings

BERLIN = ZoneInfo("Europe/Berlin")


def _at(*parts: int, zone: ZoneInfo = BERLIN) -> float:
    return datetime(*parts, tzinfo=zone).timestamp()


def _windows(spec: dict) -> list:
    settings = parse_settings({"alerts": {"maintenance": spec}}, env={})
    return [window_from_settings(name, s) for name, s in settings.alerts.maintenance.items()]


def test_a_recurring_window_is_open_for_its_duration_from_each_cron_time_in_its_time_zone() -> None:
    [weekly] = _windows({"upgrade": {"cron": "0 2 * * 0", "duration": "2h", "timezone": "Europe/Berlin"}})
    sunday = (2026, 12, 6)  # a Sunday
    assert weekly.open_at(_at(*sunday, 1, 59)) is None
    assert weekly.open_at(_at(*sunday, 2, 0)) == (_at(*sunday, 2, 0), _at(*sunday, 4, 0))
    assert weekly.open_at(_at(*sunday, 3, 59, 59)) is not None
    assert weekly.open_at(_at(*sunday, 4, 0)) is None
    assert weekly.open_at(_at(2026, 12, 7, 2, 30)) is None  # Monday
    # 02:00 Berlin is 01:00 UTC in winter: the zone decides, not the host
    assert weekly.open_at(_at(*sunday, 1, 30, zone=ZoneInfo("UTC"))) is not None


def test_a_recurring_window_follows_daylight_saving_time() -> None:
    [nightly] = _windows({"n": {"cron": "30 2 * * *", "duration": "30m", "timezone": "Europe/Berlin"}})
    # 2026-06-15 02:30 Berlin (summer, UTC+2) is 00:30 UTC
    assert nightly.open_at(_at(2026, 6, 15, 0, 45, zone=ZoneInfo("UTC"))) is not None
    assert nightly.open_at(_at(2026, 6, 15, 1, 45, zone=ZoneInfo("UTC"))) is None


def test_a_one_off_window_reads_times_without_an_offset_in_its_time_zone() -> None:
    [once] = _windows({"migration": {"starts_at": "2026-12-24T22:00", "ends_at": "2026-12-25T01:00",
                                     "timezone": "Europe/Berlin"}})
    assert once.open_at(_at(2026, 12, 24, 21, 59)) is None
    assert once.open_at(_at(2026, 12, 24, 22, 0)) == (_at(2026, 12, 24, 22), _at(2026, 12, 25, 1))
    assert once.open_at(_at(2026, 12, 25, 1, 0)) is None
    assert once.upcoming(_at(2026, 12, 1)) == [(_at(2026, 12, 24, 22), _at(2026, 12, 25, 1))]
    assert once.upcoming(_at(2026, 12, 26)) == []


def test_upcoming_lists_the_open_occurrence_then_the_next_ones() -> None:
    [daily] = _windows({"d": {"cron": "0 3 * * *", "duration": "1h", "timezone": "UTC"}})
    utc = ZoneInfo("UTC")
    spans = daily.upcoming(_at(2026, 12, 6, 3, 30, zone=utc))
    assert [s for s, _ in spans] == [_at(2026, 12, d, 3, zone=utc) for d in (6, 7, 8)]


def test_matchers_choose_the_alerts_a_window_covers_and_none_means_all() -> None:
    windows = _windows({"health": {"cron": "* * * * *", "duration": "2m", "matchers": {"rule": "health:*"}},
                        "binance": {"cron": "* * * * *", "duration": "2m", "matchers": {"exchange": "binance"}}})
    now = _at(2026, 12, 6, 12, 0, 30)
    found = open_window(windows, {"rule": "health:disk_space", "severity": "warning"}, now)
    assert found is not None and found[0].name == "health"
    assert open_window(windows, {"rule": "high_latency", "exchange": "kraken"}, now) is None
    [everything] = _windows({"all": {"cron": "* * * * *", "duration": "2m"}})
    assert open_window([everything], {"rule": "anything"}, now) is not None


@pytest.mark.parametrize(("spec", "message"), [
    ({"cron": "61 * * * *", "duration": "1h"}, "not a cron expression"),
    ({"cron": "0 3 * * *"}, "needs a duration"),
    ({"cron": "0 3 * * *", "duration": "8d"}, "at most 7 days"),
    ({"cron": "0 3 * * *", "duration": "soon"}, "not a duration"),
    ({"cron": "0 3 * * *", "duration": "1h", "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ({"starts_at": "2026-12-06T10:00", "ends_at": "2026-12-06T09:00"}, "must be after starts_at"),
    ({"starts_at": "2026-12-06T10:00"}, "needs cron + duration"),
    ({"cron": "0 3 * * *", "duration": "1h", "starts_at": "2026-12-06T10:00", "ends_at": "2026-12-06T11:00"},
     "not both"),
    ({"cron": "0 3 * * *", "during": "1h"}, "during"),
])
def test_bad_windows_are_config_errors_naming_the_window_and_the_value(spec: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"alerts": {"maintenance": {"nightly": spec}}}, env={})
    assert "alerts.maintenance.nightly" in str(caught.value) and message in str(caught.value)


def test_the_digest_due_is_the_latest_cron_time_and_its_period_starts_at_the_one_before() -> None:
    digest = DigestSettings(cron="0 8 * * *", timezone="Europe/Berlin")
    due, since = due_at(digest, _at(2026, 12, 6, 9, 15))
    assert (due, since) == (_at(2026, 12, 6, 8), _at(2026, 12, 5, 8))
    assert due_at(digest, _at(2026, 12, 6, 8, 0))[0] == _at(2026, 12, 6, 8)  # due at the minute itself


def test_bad_digest_settings_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"alerts\.digest.*not a cron expression"):
        parse_settings({"alerts": {"digest": {"cron": "every morning"}}}, env={})
    with pytest.raises(ConfigError, match=r"alerts\.digest\.channels"):
        parse_settings({"alerts": {"digest": {"channels": ["pager"]}}}, env={})
