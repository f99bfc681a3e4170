"""request_fast_evaluation(): at most one evaluate_fast queued at a time, spaced by the throttle, never raises.

The Celery publish is recorded here (the broker path is covered end to end in
tests/e2e/test_alert_fast_path.py); the coalescing state lives in the real Redis.
"""

from __future__ import annotations

import pytest

from graphwiz_monitoring import context


@pytest.fixture
def rules(tmp_path, redis_url, monkeypatch):
    config = tmp_path / "monitoring.yaml"
    config.write_text(f"redis:\n  url: {redis_url}\nalerts:\n  fast_evaluation_min_interval_seconds: 0.5\n")
    monkeypatch.setenv("GRAPHWIZ_CONFIG", str(config))
    monkeypatch.delenv("GRAPHWIZ_REDIS_URL", raising=False)
    context.reset()
    import workers.rules as module

    yield module
    context.reset()


def test_requests_coalesce_into_one_queued_evaluation(rules, keys, store, monkeypatch) -> None:
    published: list[dict] = []
    monkeypatch.setattr(rules.evaluate_fast, "apply_async", lambda **kw: published.append(kw))
    assert rules.request_fast_evaluation({"system"}) is False  # host metrics never feed fast rules
    assert rules.request_fast_evaluation(set()) is False
    assert [rules.request_fast_evaluation({"trade", "heartbeat"}) for _ in range(50)].count(True) == 1
    assert len(published) == 1 and published[0]["countdown"] is None
    assert 0 < store.r.pttl(keys.fast_eval_pending) <= 10_000  # bounded even if the task were lost
    # the task clears the flag first and starts the throttle: the next request is delayed, not dropped
    store.r.delete(keys.fast_eval_pending)
    store.r.set(keys.fast_eval_throttle, "1", px=500)
    assert rules.request_fast_evaluation(None) is True
    assert 0.3 < published[1]["countdown"] <= 0.5


def test_a_broken_broker_does_not_break_ingest(rules, keys, store, monkeypatch) -> None:
    def boom(**kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(rules.evaluate_fast, "apply_async", boom)
    assert rules.request_fast_evaluation({"trade"}) is False
    assert store.r.exists(keys.fast_eval_pending) == 0  # the next batch may try again
