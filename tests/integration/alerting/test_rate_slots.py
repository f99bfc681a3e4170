"""Rate-limit reservations against a real Redis (token_bucket.lua, notify_hold.lua via guards/rate_limit.py):
simultaneous callers get distinct slots 1/rate apart, a caller keeps its one slot across returns,
sends at or after it without another token, and a 429 hold voids every slot made before it."""

from __future__ import annotations

import threading
import time

from graphwiz_monitoring.alerting.delivery import (
    DEFERRED,
    SENT,
    deliver_notification,
    deliver_now,
)
from graphwiz_monitoring.config import RateLimit
from graphwiz_monitoring.guards import rate_limit
from graphwiz_monitoring.guards.rate_limit import hold_channel, take_token
from tests.fakes.notify_fixtures import deliver_until_done, make_settings, notifications_config, put_alert

CHANNEL = "webhook"
TOLERANCE_MS = 1  # slot times are whole ms of the Redis clock


def ask(store, keys, record: str, rate: RateLimit) -> tuple[str, float]:
    return take_token(store, keys, CHANNEL, rate, record)


def slot_at(store, record: str) -> int | None:
    value = store.r.hget(record, "slot_at")
    return None if value is None else int(value)


def bucket(store, keys) -> dict[str, str]:
    return store.r.hgetall(keys.channel_bucket(CHANNEL))


def records(keys, n: int) -> list[str]:
    return [keys.delivery(f"alert{i}", CHANNEL, "firing") for i in range(n)]


def test_simultaneous_callers_get_distinct_slots_one_interval_apart(store, keys):
    rate, n = RateLimit(count=5, per_seconds=1, burst=2), 12
    recs = records(keys, n)
    verdicts: dict[str, tuple[str, float]] = {}
    barrier = threading.Barrier(n)

    def caller(record: str) -> None:
        barrier.wait()
        verdicts[record] = ask(store, keys, record, rate)

    threads = [threading.Thread(target=caller, args=(r,)) for r in recs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(v for v, _ in verdicts.values()) == ["go"] * 2 + ["reserved"] * (n - 2), verdicts
    slots = sorted(slot_at(store, r) for r in recs if verdicts[r][0] == "reserved")
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert all(abs(g - 200) <= TOLERANCE_MS for g in gaps), gaps  # one per 1/rate, none shared
    waits = sorted(w for v, w in verdicts.values() if v == "reserved")
    assert waits[0] <= 0.2 + 0.001 and waits[-1] <= (n - 2) * 0.2 + 0.001, waits


def test_a_caller_back_before_its_slot_waits_the_rest_and_takes_no_second_slot(store, keys):
    rate = RateLimit(count=5, per_seconds=1, burst=1)
    first, second, third = records(keys, 3)
    assert ask(store, keys, first, rate) == ("go", 0.0)
    verdict, wait = ask(store, keys, second, rate)
    assert verdict == "reserved" and 0.15 < wait <= 0.2, wait
    slot, before = slot_at(store, second), bucket(store, keys)

    time.sleep(0.05)
    verdict, rest = ask(store, keys, second, rate)  # woken early (e.g. the retry countdown cap)
    assert verdict == "early" and 0 < rest < wait, (verdict, rest)
    assert slot_at(store, second) == slot and bucket(store, keys) == before  # nothing new taken
    assert ask(store, keys, third, rate)[0] == "reserved"
    assert abs(slot_at(store, third) - slot - 200) <= TOLERANCE_MS  # the very next slot after it


def test_a_caller_back_at_or_after_its_slot_sends_without_another_token(store, keys):
    rate = RateLimit(count=5, per_seconds=1, burst=1)
    first, on_time, late = records(keys, 3)
    assert ask(store, keys, first, rate)[0] == "go"
    _, wait = ask(store, keys, on_time, rate)
    _, late_wait = ask(store, keys, late, rate)
    before = bucket(store, keys)

    time.sleep(wait)
    assert ask(store, keys, on_time, rate) == ("slot", 0.0)
    assert slot_at(store, on_time) is None and bucket(store, keys) == before  # the reservation was the token
    time.sleep(late_wait - wait + 0.5)  # its worker was busy: half a second late
    assert ask(store, keys, late, rate) == ("slot", 0.0)  # keeps its turn, not sent to the back
    assert slot_at(store, late) is None


def test_burst_still_allows_burst_immediate_sends(store, keys):
    rate = RateLimit(count=1, per_seconds=1, burst=4)
    recs = records(keys, 5)
    assert [ask(store, keys, r, rate)[0] for r in recs[:4]] == ["go"] * 4
    verdict, wait = ask(store, keys, recs[4], rate)
    assert verdict == "reserved" and 0.9 < wait <= 1.0, wait


def test_a_429_hold_pauses_everything_and_voids_the_slots_made_before_it(store, keys):
    rate = RateLimit(count=5, per_seconds=1, burst=1)
    first, *waiting, newcomer = records(keys, 5)
    assert ask(store, keys, first, rate)[0] == "go"
    assert [ask(store, keys, r, rate)[0] for r in waiting] == ["reserved"] * 3  # slots at ~0.2, 0.4, 0.6 s

    hold_channel(store, keys, CHANNEL, 0.5)
    assert not store.r.exists(keys.channel_bucket(CHANNEL))
    for record in [*waiting, newcomer]:
        verdict, wait = ask(store, keys, record, rate)
        assert verdict == "held" and 0.4 < wait <= 0.5, (verdict, wait)
    assert slot_at(store, newcomer) is None  # nothing is reserved while the channel is held

    time.sleep(0.55)  # past the hold, and past the first two old slots
    after = [ask(store, keys, r, rate) for r in [*waiting, newcomer]]
    # Nobody sends on a pre-hold slot: one token, then fresh slots one interval apart.
    assert [v for v, _ in after] == ["go", "reserved", "reserved", "reserved"], after
    slots = [slot_at(store, r) for r in [*waiting[1:], newcomer]]
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert all(abs(g - 200) <= TOLERANCE_MS for g in gaps), gaps


def test_no_slot_is_reserved_beyond_the_horizon(store, keys, monkeypatch):
    monkeypatch.setattr(rate_limit, "RESERVE_AHEAD_MAX_SECONDS", 0.5)
    rate = RateLimit(count=5, per_seconds=1, burst=1)
    recs = records(keys, 4)
    assert [ask(store, keys, r, rate)[0] for r in recs[:3]] == ["go", "reserved", "reserved"]  # 0.2, 0.4 s
    before = bucket(store, keys)
    verdict, wait = ask(store, keys, recs[3], rate)  # the next slot (0.6 s) lies beyond 0.5 s
    assert verdict == "full" and 0.3 <= wait <= 0.35, wait  # back when half the horizon has drained
    assert slot_at(store, recs[3]) is None and bucket(store, keys) == before


def test_an_unlimited_channel_only_honours_the_hold(store, keys):
    record = records(keys, 1)[0]
    assert take_token(store, keys, CHANNEL, None, record) == ("go", 0.0)
    hold_channel(store, keys, CHANNEL, 0.3)
    verdict, wait = take_token(store, keys, CHANNEL, None, record)
    assert verdict == "held" and 0.2 < wait <= 0.3


# ------------------------------------------------------------------ through deliver_notification
def rate_limited(redis_url, receiver, burst: int = 1):
    return make_settings(redis_url, notifications_config(
        webhook=receiver, retry={"rate_limit": {"count": 5, "per_seconds": 1, "burst": burst}}))


def test_a_deferred_notification_keeps_its_slot_across_attempts(store, keys, redis_url, webhook_receiver):
    settings = rate_limited(redis_url, webhook_receiver)
    first, second = put_alert(store, keys), put_alert(store, keys)
    record = keys.delivery(second.alert_id, CHANNEL, "firing")
    assert deliver_notification(store, keys, settings, first.alert_id, CHANNEL).outcome == SENT
    waiting = deliver_notification(store, keys, settings, second.alert_id, CHANNEL, token="task-2")
    assert waiting.outcome == DEFERRED and waiting.reason == "rate limited: reserved", waiting
    slot = slot_at(store, record)
    assert slot is not None and store.r.hget(record, "state") == "idle"  # released, the slot kept
    # A duplicate task of the same notification waits for the same slot, it takes none of its own.
    again = deliver_notification(store, keys, settings, second.alert_id, CHANNEL, token="task-2-duplicate")
    assert again.outcome == DEFERRED and again.reason == "rate limited: early" and slot_at(store, record) == slot

    time.sleep(waiting.retry_in)
    assert deliver_notification(store, keys, settings, second.alert_id, CHANNEL, token="task-2").outcome == SENT
    assert store.r.hget(record, "state") == "done" and slot_at(store, record) is None
    assert len(webhook_receiver.delivered()) == 2


def test_concurrent_senders_need_at_most_two_attempts_each(store, keys, redis_url, webhook_receiver):
    settings = rate_limited(redis_url, webhook_receiver, burst=2)
    alerts = [put_alert(store, keys) for _ in range(8)]
    attempts: dict[str, int] = {}

    def sender(alert_id: str) -> None:
        attempts[alert_id] = len(deliver_until_done(store, keys, settings, alert_id, CHANNEL))

    threads = [threading.Thread(target=sender, args=(a.alert_id,)) for a in alerts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(attempts.values()) == [1, 1] + [2] * 6, attempts
    arrivals = sorted(r.arrived for r in webhook_receiver.delivered())
    assert len(arrivals) == 8 and arrivals[-1] - arrivals[0] >= 6 * 0.2 - 0.15


def test_deliver_now_waits_for_its_slot(store, keys, redis_url, webhook_receiver):
    settings = rate_limited(redis_url, webhook_receiver)
    first, second = put_alert(store, keys), put_alert(store, keys)
    assert deliver_now(store, keys, settings, first.alert_id, CHANNEL).outcome == SENT
    assert deliver_now(store, keys, settings, second.alert_id, CHANNEL).outcome == SENT
    arrivals = [r.arrived for r in webhook_receiver.delivered()]
    assert len(arrivals) == 2 and arrivals[1] - arrivals[0] >= 0.2 - 0.05
