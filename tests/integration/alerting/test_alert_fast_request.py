"""request_fast_evaluation(): at most one evaluate_fast queued at a time, spaced by the throttle, never raises.

The publish is recorded here by a TaskSender (the broker path is covered end to end in
tests/e2e/test_alert_fast_path.py); the coalescing state lives in the real Redis.
"""

from __future__ import annotations

from typing import Any

from graphwiz_monitoring import tasks
from graphwiz_monitoring.alerting.fast_path import request_fast_evaluation


class RecordingSender:
    def __init__(self, fail: bool = False) -> None:
        self.published: list[dict[str, Any]] = []
        self.fail = fail

    def send(self, task: str, args=(), *, retry: bool = False, max_age_seconds=None, **options: Any) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        assert task == tasks.EVALUATE_FAST
        assert max_age_seconds == 10.0  # stale after the pending flag's safety bound, on the Redis clock
        self.published.append(options)


def test_requests_coalesce_into_one_queued_evaluation(keys, store) -> None:
    sender = RecordingSender()

    def rules_request(kinds):
        return request_fast_evaluation(store, keys, sender, kinds)

    published = sender.published
    assert rules_request({"system"}) is False  # host metrics never feed fast rules
    assert rules_request(set()) is False
    assert [rules_request({"trade", "heartbeat"}) for _ in range(50)].count(True) == 1
    assert len(published) == 1 and published[0]["countdown"] is None
    assert 0 < store.r.pttl(keys.fast_eval_pending) <= 10_000  # bounded even if the task were lost
    # the task clears the flag first and starts the throttle: the next request is delayed, not dropped
    store.r.delete(keys.fast_eval_pending)
    store.r.set(keys.fast_eval_throttle, "1", px=500)
    assert rules_request(None) is True
    assert 0.3 < published[1]["countdown"] <= 0.5


def test_a_broken_broker_does_not_break_ingest(keys, store) -> None:
    assert request_fast_evaluation(store, keys, RecordingSender(fail=True), {"trade"}) is False
    assert store.r.exists(keys.fast_eval_pending) == 0  # the next batch may try again
