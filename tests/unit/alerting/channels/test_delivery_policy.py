"""Retry policy: exponential backoff with equal jitter, capped; a server's Retry-After is never undercut."""

from __future__ import annotations

import random

from graphwiz_monitoring.alerting.delivery import backoff_seconds, honour_retry_after, lease_seconds
from graphwiz_monitoring.config import ChannelSettings, EmailSettings


def test_backoff_doubles_with_jitter_within_bounds():
    rng = random.Random(7)
    for failures in range(1, 12):
        ceiling = min(600, 2 * 2 ** (failures - 1))
        samples = [backoff_seconds(failures, 2, 600, rng) for _ in range(200)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert max(samples) - min(samples) > ceiling / 10  # it is jittered


def test_retry_after_is_honoured_never_earlier():
    rng = random.Random(1)
    waits = [honour_retry_after(2.0, rng) for _ in range(100)]
    assert all(2.0 <= w <= 2.21 for w in waits)


def test_lease_outlives_a_send():
    assert lease_seconds(ChannelSettings(timeout_seconds=10)) >= 60
    assert lease_seconds(EmailSettings(timeout_seconds=30)) >= 6 * 30
