"""Two worker processes share one channel's rate limit: the request rate measured at the fake stays
within the configured limit (token bucket in Redis, not per process)."""

from __future__ import annotations

import pytest

from tests.conftest import wait_until
from tests.fakes.notify_fixtures import config_yaml, enqueue, make_settings, notifications_config, put_alert

pytestmark = pytest.mark.e2e

COUNT, PER_SECONDS, BURST = 5, 1.0, 1
N = 12
JITTER_SECONDS = 0.15


def test_measured_rate_stays_within_the_limit(celery_processes, redis_url, store, keys, webhook_receiver):
    notifications = notifications_config(webhook=webhook_receiver, retry={
        "rate_limit": {"count": COUNT, "per_seconds": PER_SECONDS, "burst": BURST}})
    extra = config_yaml(notifications)
    for i in range(2):
        celery_processes("worker", "-Q", "notify.webhook", "-c", "2", "-n", f"notify{i}@%h", "--loglevel", "INFO",
                         "--without-mingle", "--without-gossip", config_extra=extra)
    settings = make_settings(redis_url, notifications)
    alerts = [put_alert(store, keys) for _ in range(N)]
    for alert in alerts:
        enqueue(settings, alert.alert_id, "webhook")
    wait_until(lambda: len(webhook_receiver.delivered()) == N, timeout=30, message="all delivered")

    arrivals = sorted(r.arrived for r in webhook_receiver.received())
    assert len(arrivals) == N  # nothing was sent twice or refused
    # Tokens are granted ≥ 1/COUNT s apart (burst 1) by Redis; an arrival may add up to JITTER_SECONDS
    # of scheduling delay on a loaded 2-core machine, never less. So, measured at the fake:
    interval = PER_SECONDS / COUNT
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) >= interval - JITTER_SECONDS, gaps
    for i, start in enumerate(arrivals):  # no window of PER_SECONDS holds more than burst + count
        assert sum(1 for t in arrivals[i:] if t < start + PER_SECONDS - JITTER_SECONDS) <= BURST + COUNT
    span = arrivals[-1] - arrivals[0]
    assert span >= (N - 1) * interval - JITTER_SECONDS, span  # overall rate within the limit
    assert span <= 2 * (N - 1) * interval + 2.0, span  # and the limiter is not needlessly slow
