"""The fallback's sends (trader/fallback.py) against a loopback webhook: bounded retries, secrets never logged."""

from __future__ import annotations

import logging

from graphwiz_monitoring.trader.fallback import MAX_ATTEMPTS, PipelineFallback
from tests.fakes.notify_fixtures import ALL_SECRETS, make_settings, notifications_config


def fallback_for(webhook, world: dict) -> PipelineFallback:
    settings = make_settings("redis://127.0.0.1:9/0", notifications_config(webhook=webhook),
                             trader={"pipeline_stale_seconds": 1, "fallback_channels": ["webhook"]})
    return PipelineFallback(settings, lambda: (True, world["recorded"]), identity="t1", clock=lambda: world["now"])


def test_a_failing_webhook_is_tried_a_bounded_number_of_times_and_no_secret_is_logged(webhook_receiver,
                                                                                       caplog) -> None:
    world = {"now": 0.0, "recorded": 0}
    fb = fallback_for(webhook_receiver, world)
    webhook_receiver.down(500)
    caplog.set_level(logging.INFO, logger="graphwiz_monitoring")
    fb.tick()
    world["now"] = 2.0
    assert fb.tick() == "down"
    fb._announce_down()
    assert len(webhook_receiver.received()) == MAX_ATTEMPTS
    assert fb.sent == {"down": 0, "back": 0, "failed": 1}
    assert "pipeline down notice not delivered to webhook after 4 attempt(s)" in caplog.text
    webhook_receiver.up()
    world["recorded"] = 1
    assert fb.tick() == "back"
    fb._announce_back()
    assert fb.sent == {"down": 0, "back": 1, "failed": 1}
    assert webhook_receiver.received()[-1].json["kind"] == "resolved"
    for secret in ALL_SECRETS:
        assert secret not in caplog.text, secret
