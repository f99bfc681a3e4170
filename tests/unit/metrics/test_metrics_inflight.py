"""InFlight: which sent batches are forgotten, kept, or handed back for re-sending."""

from __future__ import annotations

from graphwiz_monitoring.trader.inflight import InFlight


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def batch(i: int) -> dict:
    return {"batch_id": f"b{i}", "records": []}


def make(answer, resend_after=30.0, max_records=1000):
    clock, asked = Clock(), []

    def confirm(ids):
        asked.append(list(ids))
        return answer(ids)

    return InFlight(confirm, resend_after, max_records, clock), clock, asked


def test_recorded_batches_are_forgotten_and_overdue_ones_handed_back_oldest_first() -> None:
    seen = {"b1"}
    inflight, clock, _ = make(lambda ids: ([i in seen for i in ids], True))
    for i in range(3):
        inflight.add(batch(i), 10)
    assert inflight.check() == [] and len(inflight) == 2  # b1 recorded: forgotten; b0, b2 not yet due
    clock.now = 30.0
    assert [b["batch_id"] for b, n in inflight.check()] == ["b0", "b2"]
    assert len(inflight) == 0


def test_nothing_is_resent_while_the_queue_has_a_backlog_or_redis_cannot_tell() -> None:
    state = {"answer": None}
    inflight, clock, asked = make(lambda ids: state["answer"])
    inflight.add(batch(0), 5)
    clock.now = 100.0
    assert inflight.check() == [] and len(inflight) == 1  # Redis down
    state["answer"] = ([False], False)
    assert inflight.check() == [] and len(inflight) == 1  # backlog: it may still be in the queue
    state["answer"] = ([False], True)
    assert [b["batch_id"] for b, _ in inflight.check()] == ["b0"]
    assert len(asked) == 3


def test_memory_bound_forgets_the_oldest_batches() -> None:
    inflight, _, _ = make(lambda ids: ([False] * len(ids), True), max_records=25)
    for i in range(5):
        inflight.add(batch(i), 10)
    assert len(inflight) == 2  # 20 records kept of 50: the three oldest are only in the broker now
    assert inflight.check() == []


def test_empty_tracker_does_not_ask_redis() -> None:
    inflight, _, asked = make(lambda ids: ([], True))
    assert inflight.check() == [] and asked == []


def test_settle_waits_for_late_records_then_hands_back_the_rest_oldest_first() -> None:
    recorded: set[str] = set()
    inflight, _, asked = make(lambda ids: ([i in recorded for i in ids], False))
    for i in range(3):
        inflight.add(batch(i), 10)

    def answer(ids):  # b1 is recorded while settle waits; b0 and b2 never are
        recorded.add("b1")
        return [i in recorded for i in ids], False

    inflight._confirm = answer
    rest = inflight.settle(timeout=0.2, poll=0.05)
    assert [b["batch_id"] for b, n in rest] == ["b0", "b2"] and len(inflight) == 0


def test_settle_returns_early_once_everything_is_recorded_and_unasked_with_no_time() -> None:
    inflight, _, asked = make(lambda ids: ([True] * len(ids), True))
    inflight.add(batch(0), 10)
    assert inflight.settle(timeout=5.0) == [] and len(asked) == 1  # one look, no waiting out the timeout
    down, _, asked_down = make(lambda ids: None)  # Redis cannot tell: everything is kept
    down.add(batch(0), 10)
    assert [b["batch_id"] for b, _ in down.settle(timeout=0.1, poll=0.02)] == ["b0"] and len(asked_down) >= 2
    unasked, _, asked_none = make(lambda ids: ([True] * len(ids), True))
    unasked.add(batch(1), 10)
    assert [b["batch_id"] for b, _ in unasked.settle(timeout=0)] == ["b1"] and asked_none == []
