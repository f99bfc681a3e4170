"""Delivery across channels (real Redis, loopback fakes, in-process): idempotency under concurrency,
the cluster-wide rate limit, the circuit breaker's log fallback, suppression, dead letters, secrets."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time

import pytest

from graphwiz_monitoring.alerting import lease_holder
from graphwiz_monitoring.alerting.delivery import (
    BUSY_POLL_SECONDS,
    DEAD_LETTERED,
    DEFERRED,
    DUPLICATE,
    RETRY,
    SENT,
    SUPPRESSED,
    claim_delivery,
    deliver_notification,
    finish_delivery,
    requeue_dead_letter,
)
from graphwiz_monitoring.guards.breaker import BreakerState, CircuitBreaker
from graphwiz_monitoring.state.dead_letters import list_dead_letters
from tests.fakes.notify_fixtures import (
    ALL_SECRETS,
    deliver_until_done,
    make_settings,
    notifications_config,
    put_alert,
)


def test_redelivery_of_a_stalled_senders_task_waits_while_a_dead_senders_takes_over(
        store, keys, redis_url, webhook_receiver, sleeping_process):
    """Issue 11 finding 7, in-process: the claim of a live (even frozen) sender is never taken over by a
    redelivery of the same task; the claim of a sender that is gone is, at once."""
    settings = make_settings(redis_url, notifications_config(webhook=webhook_receiver))
    alert = put_alert(store, keys)
    record = keys.delivery(alert.alert_id, "webhook", "firing")
    holder = lease_holder.identity(sleeping_process.pid)
    verdict, _, _ = claim_delivery(store, record, token="task-1:first", lease_ms=90_000, ttl_seconds=3600,
                                   holder=holder)
    assert verdict == "claimed"  # the first attempt of task-1, in sleeping_process, has sent its request...
    os.kill(sleeping_process.pid, signal.SIGSTOP)  # ...and freezes before recording it
    for task_id in ("task-1", "task-2"):  # its redelivery, and a genuine duplicate task
        again = deliver_notification(store, keys, settings, alert.alert_id, "webhook", token=task_id)
        assert again.outcome == DEFERRED and again.reason == "claimed by another task", again
        assert again.retry_in <= BUSY_POLL_SECONDS + 0.5  # looks again soon, not after the 90 s lease
    assert webhook_receiver.received() == [] and store.r.hget(record, "holder") == holder
    os.kill(sleeping_process.pid, signal.SIGKILL)  # now it is gone: its claim frees at once
    sleeping_process.wait()
    assert deliver_notification(store, keys, settings, alert.alert_id, "webhook", token="task-1").outcome == SENT
    assert len(webhook_receiver.received()) == 1
    assert deliver_notification(store, keys, settings, alert.alert_id, "webhook", token="task-1").outcome == DUPLICATE


def test_a_sender_that_wakes_up_after_the_redelivery_waited_records_once(store, keys, redis_url, webhook_receiver):
    """The frozen holder comes back and records its send: the waiting redelivery then finds it done."""
    settings = make_settings(redis_url, notifications_config(webhook=webhook_receiver))
    alert = put_alert(store, keys)
    record = keys.delivery(alert.alert_id, "webhook", "firing")
    mine = lease_holder.identity()
    assert claim_delivery(store, record, token="task-1:first", lease_ms=90_000, ttl_seconds=3600,
                          holder=mine)[0] == "claimed"
    assert deliver_notification(store, keys, settings, alert.alert_id, "webhook", token="task-1").outcome == DEFERRED
    finish_delivery(store, record, token="task-1:first", outcome="done", reason="", ttl_seconds=3600)  # holder, back
    assert deliver_notification(store, keys, settings, alert.alert_id, "webhook", token="task-1").outcome == DUPLICATE
    assert webhook_receiver.received() == []


def test_concurrent_duplicates_send_exactly_once(store, keys, redis_url, webhook_receiver):
    settings = make_settings(redis_url, notifications_config(webhook=webhook_receiver))
    alert = put_alert(store, keys)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        outcomes.append(deliver_notification(store, keys, settings, alert.alert_id, "webhook").outcome)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(webhook_receiver.received()) == 1
    assert outcomes.count(SENT) == 1 and set(outcomes) <= {SENT, DUPLICATE, "deferred"}
    assert deliver_notification(store, keys, settings, alert.alert_id, "webhook").outcome == DUPLICATE


def test_rate_limit_is_cluster_wide(store, keys, redis_url, webhook_receiver):
    """5 per second with burst 1: sends are spaced ≥ 0.2 s apart however many senders compete."""
    config = notifications_config(webhook=webhook_receiver,
                                  retry={"rate_limit": {"count": 5, "per_seconds": 1, "burst": 1}})
    settings = make_settings(redis_url, config)
    alerts = [put_alert(store, keys) for _ in range(8)]
    threads = [threading.Thread(target=deliver_until_done, args=(store, keys, settings, a.alert_id, "webhook"))
               for a in alerts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    arrivals = sorted(r.arrived for r in webhook_receiver.received())
    assert len(arrivals) == 8
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) >= 0.2 - 0.15, gaps  # tokens are granted evenly; arrivals add scheduling jitter
    assert arrivals[-1] - arrivals[0] >= 7 * 0.2 - 0.15


def test_open_circuit_falls_back_to_the_log_channel_then_recovers(store, keys, redis_url, discord_fake, caplog):
    caplog.set_level(logging.INFO)
    settings = make_settings(redis_url, notifications_config(discord=discord_fake, retry={"max_retries": 20}),
                             circuit_breakers={"failure_threshold": 2, "recovery_timeout_seconds": 0.5})
    alert = put_alert(store, keys, title="Exchange down")
    discord_fake.down(500)
    assert deliver_notification(store, keys, settings, alert.alert_id, "discord").outcome == RETRY
    assert deliver_notification(store, keys, settings, alert.alert_id, "discord").outcome == RETRY
    breaker = CircuitBreaker(store, keys, "channel.discord", settings.circuit_breakers)
    assert breaker.status().state is BreakerState.OPEN

    held = deliver_notification(store, keys, settings, alert.alert_id, "discord")
    again = deliver_notification(store, keys, settings, alert.alert_id, "discord")
    assert held.outcome == RETRY and held.reason == "discord: circuit open" and held.retry_in >= 0.3
    assert again.reason == "discord: circuit open"
    assert len(discord_fake.received()) == 2  # the open circuit kept us off the API
    fallback = [r for r in caplog.records if r.name == "graphwiz_monitoring.alerts" and "held for discord" in r.getMessage()]
    assert len(fallback) == 1 and "Exchange down" in fallback[0].getMessage()  # shown once, not per retry

    discord_fake.up()
    results = deliver_until_done(store, keys, settings, alert.alert_id, "discord")
    assert results[-1].outcome == SENT and breaker.status().state is BreakerState.CLOSED
    assert len(discord_fake.delivered()) == 1


def test_suppression_and_unknowns(store, keys, redis_url, slack_fake):
    config = notifications_config(slack=slack_fake)
    config["slack"]["send_resolved"] = False
    settings = make_settings(redis_url, config)
    alert = put_alert(store, keys)
    assert deliver_notification(store, keys, settings, alert.alert_id, "discord").outcome == SUPPRESSED  # not set up
    assert deliver_notification(store, keys, settings, alert.alert_id, "slack", "resolved").outcome == SUPPRESSED
    assert slack_fake.received() == []
    assert deliver_notification(store, keys, settings, alert.alert_id, "pager").outcome == DEAD_LETTERED
    assert deliver_notification(store, keys, settings, "no-such-alert", "slack").outcome == DEAD_LETTERED
    assert deliver_notification(store, keys, settings, 12345, "slack").outcome == DEAD_LETTERED  # raw bad payload
    reasons = sorted(e["reason"] for e in list_dead_letters(store, keys))
    assert reasons == ["alert record not found (expired or never stored)", "malformed alert id",
                       "unknown channel 'pager'"]


def test_dead_letter_can_be_requeued(store, keys, redis_url, webhook_receiver):
    settings = make_settings(redis_url, notifications_config(webhook=webhook_receiver, retry={"max_retries": 0}))
    alert = put_alert(store, keys)
    webhook_receiver.fail(1, 500)
    assert deliver_notification(store, keys, settings, alert.alert_id, "webhook").outcome == DEAD_LETTERED
    (entry,) = list_dead_letters(store, keys)
    queued: list[tuple[str, str, str]] = []
    assert requeue_dead_letter(store, keys, entry, lambda *args: queued.append(args)) is None
    assert queued == [(alert.alert_id, "webhook", "firing")] and list_dead_letters(store, keys) == []
    assert deliver_notification(store, keys, settings, alert.alert_id, "webhook").outcome == SENT


@pytest.mark.parametrize("failure", ["refused", "500", "401", "timeout"])
def test_secrets_never_reach_logs_reasons_or_dead_letters(store, keys, redis_url, caplog, failure, discord_fake,
                                                          slack_fake, telegram_fake, webhook_receiver, smtp_server,
                                                          smtp_cert):
    caplog.set_level(logging.DEBUG)
    smtp = smtp_server("starttls")
    fakes = [discord_fake, slack_fake, telegram_fake, webhook_receiver]
    config = notifications_config(discord=discord_fake, slack=slack_fake, telegram=telegram_fake,
                                  webhook=webhook_receiver, smtp=smtp, cert=smtp_cert[0],
                                  retry={"max_retries": 1, "timeout_seconds": 0.3})
    if failure == "refused":
        for fake in fakes:
            fake.stop()
        smtp.stop()
    elif failure == "401":
        smtp.users.clear()
        for name in ("discord", "slack", "webhook"):
            key = "url" if name == "webhook" else "webhook_url"
            config[name][key] = config[name][key].replace("SECRET", "SECRET-wrong-SECRET")
        config["telegram"]["bot_token"] += "-wrong"
    else:
        for fake in fakes:
            fake.down(500) if failure == "500" else fake.down("hang", 1.0)
        smtp.reject_next = [451, 451]
    settings = make_settings(redis_url, config, circuit_breakers={"failure_threshold": 100})
    alert = put_alert(store, keys)
    reasons = []
    for channel in ("discord", "slack", "telegram", "webhook", "email"):
        results = deliver_until_done(store, keys, settings, alert.alert_id, channel)
        assert results[-1].outcome == DEAD_LETTERED, (channel, results)
        reasons += [r.reason for r in results]
    evidence = "\n".join([caplog.text, *reasons, json.dumps(list_dead_letters(store, keys))])
    assert len(list_dead_letters(store, keys)) == 5
    for secret in ALL_SECRETS:
        assert secret not in evidence, (secret, failure)
    time.sleep(0)  # keep the fakes alive until here


def test_a_crashing_channel_is_retried_then_dead_lettered_with_its_secret_redacted(store, keys, redis_url,
                                                                                   webhook_receiver):
    from graphwiz_monitoring.alerting.channels import ChannelRegistry
    from graphwiz_monitoring.alerting.channels.webhook import WebhookChannel

    class CrashingWebhook(WebhookChannel):
        def send(self, alert, kind):
            raise ValueError(f"cannot post to {self.settings.url.get_secret_value()}")

    channels = ChannelRegistry()
    channels.register(CrashingWebhook)
    settings = make_settings(redis_url, notifications_config(webhook=webhook_receiver, retry={"max_retries": 1}))
    alert = put_alert(store, keys)
    first = deliver_notification(store, keys, settings, alert.alert_id, "webhook", channel_registry=channels)
    assert first.outcome == RETRY and first.reason == "webhook: unexpected ValueError: cannot post to ***"
    last = deliver_notification(store, keys, settings, alert.alert_id, "webhook", channel_registry=channels)
    assert last.outcome == DEAD_LETTERED
    assert "SECRET" not in json.dumps(list_dead_letters(store, keys)) and webhook_receiver.received() == []


def test_each_repeat_is_its_own_idempotent_notification(store, keys, redis_url, webhook_receiver):
    """A repeat's kind carries its sequence number: repeat-1 and repeat-2 are each delivered once, apart
    from the first notification; a malformed repeat kind is a dead letter, not a send."""
    settings = make_settings(redis_url, notifications_config(webhook=webhook_receiver))
    alert = put_alert(store, keys)
    for kind in ("firing", "repeat-1", "repeat-2"):
        assert deliver_notification(store, keys, settings, alert.alert_id, "webhook", kind).outcome == SENT
        assert deliver_notification(store, keys, settings, alert.alert_id, "webhook", kind).outcome == DUPLICATE
    assert [(r.json["alert_id"], r.json["kind"]) for r in webhook_receiver.delivered()] == [
        (alert.alert_id, "firing"), (alert.alert_id, "repeat-1"), (alert.alert_id, "repeat-2")]
    for bad in ("repeat-0", "repeat-01", "repeat-x", "repeat", "repeat-1|x", "resolved-1", "firing-2"):
        assert deliver_notification(store, keys, settings, alert.alert_id, "webhook", bad).outcome == DEAD_LETTERED
    assert len(webhook_receiver.delivered()) == 3
