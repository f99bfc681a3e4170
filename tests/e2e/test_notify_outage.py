"""Real workers against a misbehaving Discord: 429 Retry-After honoured (measured at the fake), an
outage (500s, then 429, then hangs) delivers everything once it is over, and other channels are not
held up meanwhile."""

from __future__ import annotations

import time

import pytest

from graphwiz_monitoring.tasks import NOTIFY_QUEUES
from tests.conftest import wait_until
from tests.fakes.notify_fixtures import (
    ALL_SECRETS,
    config_yaml,
    enqueue,
    make_settings,
    notifications_config,
    put_alert,
)

pytestmark = pytest.mark.e2e



def worker_args(level: str = "INFO") -> tuple[str, ...]:
    return ("worker", "-Q", ",".join(NOTIFY_QUEUES), "-c", "2", "--loglevel", level, "--without-mingle",
            "--without-gossip")


def _alert_ids(requests) -> list[str]:
    return [r.json["embeds"][0]["fields"][0]["value"] for r in requests]


def test_429_retry_after_is_honoured_by_every_worker(celery_processes, redis_url, store, keys, discord_fake):
    notifications = notifications_config(discord=discord_fake)
    worker = celery_processes(*worker_args(), config_extra=config_yaml(notifications))
    settings = make_settings(redis_url, notifications)
    discord_fake.throttle(1, 2)  # Retry-After: 2, X-RateLimit-Reset-After: 2.000, body retry_after 2
    alerts = [put_alert(store, keys, labels={"n": str(i)}) for i in range(4)]
    for alert in alerts:
        enqueue(settings, alert.alert_id, "discord")
    wait_until(lambda: len(discord_fake.delivered()) == 4, timeout=30, message="all four delivered")

    received = discord_fake.received()
    first_429 = min(r.arrived for r in received if r.status == 429)
    # Like Discord, the fake answers 429 to everything inside the Retry-After window. Only a request
    # already in flight when the first 429 went out (one per other worker process) may land there.
    early = [r.arrived - first_429 for r in received if r.status == 429 and r.arrived > first_429]
    assert len(early) <= 1 and all(delay < 0.5 for delay in early), early
    resumed = [r.arrived - first_429 for r in received if r.ok]
    assert min(resumed) >= 2.0, resumed  # nobody, on any worker, came back before Retry-After
    assert sorted(_alert_ids(discord_fake.delivered())) == ["0", "1", "2", "3"]
    assert all(secret not in worker.output() for secret in ALL_SECRETS)


def test_outage_delivers_everything_afterwards_without_blocking_others(celery_processes, redis_url, store, keys,
                                                                     discord_fake, slack_fake, webhook_receiver):
    notifications = notifications_config(discord=discord_fake, slack=slack_fake, webhook=webhook_receiver,
                                         retry={"max_retries": 30, "timeout_seconds": 0.5,
                                                "retry_backoff_max_seconds": 1})
    breakers = {"failure_threshold": 3, "recovery_timeout_seconds": 0.5}
    # DEBUG: the HTTP stack's own request lines (with URL paths) must be redacted too.
    worker = celery_processes(*worker_args("DEBUG"), config_extra=config_yaml(notifications, circuit_breakers=breakers))
    settings = make_settings(redis_url, notifications, circuit_breakers=breakers)
    # Discord misbehaves in every way in turn: 500s, a 429, then hangs past the client timeout.
    discord_fake.fail(4, 500)
    discord_fake.throttle(1, 2)
    discord_fake.hang(3, 1.5)

    alerts = [put_alert(store, keys, labels={"n": str(i)}) for i in range(6)]
    started = time.monotonic()
    for alert in alerts:
        enqueue(settings, alert.alert_id, "discord")
    for alert in alerts:
        enqueue(settings, alert.alert_id, "slack")
        enqueue(settings, alert.alert_id, "webhook")

    wait_until(lambda: len(slack_fake.delivered()) == 6 and len(webhook_receiver.delivered()) == 6, timeout=30,
               message="slack and webhook delivered")
    others_done = max(r.arrived for r in slack_fake.delivered() + webhook_receiver.delivered())
    wait_until(lambda: len(discord_fake.delivered()) == 6, timeout=60, message="discord delivered after outage")
    discord_back = min(r.arrived for r in discord_fake.delivered())
    # Slack and the webhook did not wait for Discord's outage to end.
    assert others_done < discord_back, (others_done - started, discord_back - started)
    statuses = [r.status for r in discord_fake.received()]
    # More 429s than the one programmed only if a request was already in flight inside its window.
    assert statuses.count(500) == 4 and statuses.count(429) >= 1 and statuses.count(None) == 3
    assert sorted(_alert_ids(discord_fake.delivered())) == [str(i) for i in range(6)]  # each exactly once
    time.sleep(0.5)
    assert len(discord_fake.delivered()) == 6 and len(slack_fake.delivered()) == 6
    output = worker.output()
    assert "held for discord: circuit open" in output  # the log channel showed alerts meanwhile
    assert all(secret not in output for secret in ALL_SECRETS)
