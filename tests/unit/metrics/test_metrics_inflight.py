"""InFlight: which sent batches are forgotten, kept, or handed back for re-sending."""

from __future__ import annotations

from graphwiz_monitoring.metrics.inflight import InFlight


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
