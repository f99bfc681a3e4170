"""Runtime silences in Redis: their times are on the Redis clock and only their expiry ends them (issue 11,
finding 2b; the skewed worker processes are in tests/e2e/test_clock_skew.py)."""

from __future__ import annotations

import json

import pytest

from graphwiz_monitoring.alerting import silences as silences_module
from graphwiz_monitoring.alerting.silences import (
    Silence,
    active_silences,
    add_silence,
    list_silences,
    remove_silence,
)
from graphwiz_monitoring.errors import RuleError


def test_clock_skew_a_silence_runs_from_now_on_the_redis_clock_and_its_key_expires_at_its_end(store, keys) -> None:
    before = store.now()
    silence = add_silence(store, keys, {"rule": "high_cpu"}, duration_seconds=60, author="ops")
    after = store.now()
    assert before <= silence.starts_at <= after and silence.ends_at == silence.starts_at + 60
    assert before <= silence.created_at <= after
    # Each key expires at the silence's end: its TTL is the time left (however slow this machine is now).
    for key in (keys.silence(silence.id), keys.silences_ends):
        ttl = store.r.pttl(key) / 1000
        assert silence.ends_at - store.now() - 0.1 <= ttl <= 60.01  # PXAT is whole ms
    assert store.r.zscore(keys.silences_ends, silence.id) == pytest.approx(silence.ends_at)
    assert [s.id for s in list_silences(store, keys)] == [silence.id]


def test_clock_skew_in_force_is_judged_at_the_redis_time(store, keys) -> None:
    now = store.now()
    running = add_silence(store, keys, {"rule": "a"}, ends_at=now + 60)
    later = add_silence(store, keys, {"rule": "b"}, starts_at=now + 30, ends_at=now + 90)
    found, judged_at = active_silences(store, keys, [Silence({"rule": "c"}, starts_at=0, ends_at=now + 5)])
    assert now <= judged_at <= store.now()
    assert sorted(s.matchers["rule"] for s in found) == ["a", "c"]
    assert {s.id for s in list_silences(store, keys)} == {running.id, later.id}  # upcoming ones are listed


def test_clock_skew_bad_silences_are_refused_with_the_reason(store, keys) -> None:
    with pytest.raises(RuleError, match="ends_at or duration_seconds"):
        add_silence(store, keys, {"rule": "a"})
    with pytest.raises(RuleError, match="ends_at or duration_seconds"):
        add_silence(store, keys, {"rule": "a"}, ends_at=store.now() + 60, duration_seconds=60)
    with pytest.raises(RuleError, match="must end in the future: ends_at 20"):
        add_silence(store, keys, {"rule": "a"}, starts_at=store.now() - 120, ends_at=store.now() - 60)
    with pytest.raises(RuleError, match="at least one matcher"):
        add_silence(store, keys, {}, duration_seconds=60)
    assert list_silences(store, keys) == [] and not store.r.exists(keys.silences_ends)


def test_clock_skew_at_most_max_silences_live_and_removal_frees_a_place(store, keys, monkeypatch) -> None:
    monkeypatch.setattr(silences_module, "MAX_SILENCES", 2)
    first = add_silence(store, keys, {"rule": "a"}, duration_seconds=60)
    add_silence(store, keys, {"rule": "b"}, duration_seconds=60)
    with pytest.raises(RuleError, match="too many silences"):
        add_silence(store, keys, {"rule": "c"}, duration_seconds=60)
    assert remove_silence(store, keys, first.id) is True
    assert remove_silence(store, keys, first.id) is False
    assert not store.r.exists(keys.silence(first.id)) and store.r.zscore(keys.silences_ends, first.id) is None
    add_silence(store, keys, {"rule": "c"}, duration_seconds=60)


def test_clock_skew_silences_of_the_older_layout_are_moved_not_lost(store, keys) -> None:
    now = store.now()
    live = Silence({"rule": "a"}, starts_at=now - 10, ends_at=now + 60, id="0123456789abcdef")
    ended = Silence({"rule": "b"}, starts_at=now - 60, ends_at=now - 1, id="fedcba9876543210")
    store.r.hset(keys.silences, mapping={live.id: json.dumps(live.to_dict()), ended.id: json.dumps(ended.to_dict()),
                                         "junk": "{not json"})
    assert [s.id for s in list_silences(store, keys)] == [live.id]
    assert not store.r.exists(keys.silences)
    # Its key lives until it ends (a second's slack for the moving: a fixed 59 s floor failed on a busy host).
    assert live.ends_at - store.now() - 1 < store.r.pttl(keys.silence(live.id)) / 1000 <= 60
    assert not store.r.exists(keys.silence(ended.id))
