"""An alert is an episode (docs/ALERTS.md), end to end: real rules and notify workers, evaluations sent as
the beat would (only faster), a loopback webhook receiver (a chat-like channel, no repeat floor) and a
local SMTP server (e-mail, floor ``min_repeat_seconds`` 900).

Config shortens the production figures: the rule is EMERGENCY with ``alerts.cooldowns.emergency: 1``
(production 10 s), so a 3 s breach gives ~3 repeats; ``resolve_after_seconds: 1.5``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from graphwiz_monitoring.metrics.ingest import ingest_batch
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import wait_until
from tests.fakes.notify_fixtures import config_yaml, make_settings, notifications_config

pytestmark = pytest.mark.e2e

COOLDOWN = 1.0
RESOLVE_AFTER = 1.5
EVALUATION_INTERVAL = 0.1
ALERTS = {"cooldowns": {"emergency": COOLDOWN}, "resolve_after_seconds": RESOLVE_AFTER,
          "rules": {"exchange_disconnect": {"severity": "emergency", "channels": ["webhook", "email", "log"]}}}


class Episode:
    """Workers, an evaluation driver and the receivers of one test."""

    def __init__(self, celery_processes: Any, redis_url: str, webhook: Any, smtp: Any, cert: Any) -> None:
        from graphwiz_monitoring.celery import create_app

        notifications = notifications_config(webhook=webhook, smtp=smtp, cert=cert)
        self.settings = make_settings(redis_url, notifications, alerts=ALERTS)
        assert self.settings.notifications.email.min_repeat_seconds == 900  # the default floor
        self.store, self.keys = Store(redis_url), KeySpace(self.settings.redis.namespace)
        self.webhook, self.smtp = webhook, smtp
        extra = config_yaml(notifications, alerts=ALERTS)
        self.workers = [celery_processes("worker", "-Q", "rules", "-c", "2", "-n", "rules@%h", "--loglevel", "INFO",
                                         config_extra=extra),
                        celery_processes("worker", "-Q", "notify.webhook,notify.email,notify.log", "-c", "2",
                                         "-n", "notify@%h", "--loglevel", "INFO", config_extra=extra)]
        self.app = create_app(self.settings)
        self._stop = threading.Event()
        self._driver = threading.Thread(target=self._drive, daemon=True)
        self._driver.start()

    def _drive(self) -> None:
        """Evaluations, as the beat sends them (every rule_evaluation_interval_seconds), only more often."""
        while not self._stop.wait(EVALUATION_INTERVAL):
            self.app.send_task("workers.rules.evaluate")

    def stop(self) -> None:
        self._stop.set()
        self._driver.join(5)

    def feed(self, exchange: str, *, connected: bool) -> None:
        batch = {"batch_id": f"{exchange}-{time.monotonic_ns()}",
                 "records": [{"kind": "exchange_status", "data": {"exchange": exchange, "connected": connected}}]}
        assert not ingest_batch(self.store, self.keys, self.settings, batch).rejected

    def active_id(self, exchange: str) -> str | None:
        for alert_id in self.store.r.hvals(self.keys.alerts_active):
            alert = json.loads(self.store.r.get(self.keys.alert(alert_id)) or "{}")
            if alert.get("labels") == {"exchange": exchange}:
                return str(alert_id)
        return None

    def hooks(self, alert_id: str) -> list[tuple[str, float]]:
        """(kind, arrival) of the webhook notifications of ``alert_id``, in arrival order."""
        return [(r.json["kind"], r.arrived) for r in self.webhook.delivered() if r.json["alert_id"] == alert_id]

    def mails(self, alert_id: str) -> list[str]:
        return [m.message["X-Graphwiz-Kind"] for m in self.smtp.received() if alert_id in m.message["Message-ID"]]


@pytest.fixture
def episode(celery_processes, redis_url, webhook_receiver, smtp_server, smtp_cert) -> Iterator[Episode]:
    ep = Episode(celery_processes, redis_url, webhook_receiver, smtp_server("starttls"), smtp_cert[0])
    yield ep
    ep.stop()
    for worker in ep.workers:
        assert "Traceback" not in worker.output(), worker.output()[-3000:]


def test_sustained_breach_is_one_alert_repeating_every_cooldown_with_an_email_floor(episode: Episode) -> None:
    episode.feed("binance", connected=False)
    wait_until(lambda: episode.active_id("binance"), timeout=10, interval=0.02, message="alert active")
    alert_id = episode.active_id("binance")
    assert alert_id
    wait_until(lambda: episode.hooks(alert_id), timeout=10, interval=0.02, message="first notification")
    started = episode.hooks(alert_id)[0][1]
    # the breach holds 3 s (3 cooldowns): ~3 repeats of the same alert
    wait_until(lambda: time.monotonic() - started >= 3 * COOLDOWN, timeout=10, interval=0.05, message="3 s of breach")
    episode.feed("binance", connected=True)
    wait_until(lambda: episode.active_id("binance") is None, timeout=5, interval=0.02, message="resolved")
    wait_until(lambda: [k for k, _ in episode.hooks(alert_id) if k == "resolved"], timeout=10, interval=0.05,
               message="resolved notice")
    kinds = [k for k, _ in episode.hooks(alert_id)]
    assert kinds[0] == "firing" and kinds[-1] == "resolved" and kinds.count("firing") == 1
    repeats = [k for k in kinds if k.startswith("repeat-")]
    assert 2 <= len(repeats) <= 4, kinds
    assert repeats == [f"repeat-{n}" for n in range(1, len(repeats) + 1)]  # each repeat once, in order
    arrivals = [t for k, t in episode.hooks(alert_id) if k != "resolved"]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) >= COOLDOWN * 0.8, gaps  # a repeat per cooldown, never sooner
    # one alert id throughout: history holds exactly this one
    assert episode.store.r.zrange(episode.keys.alerts_history, 0, -1) == [alert_id]
    # e-mail: the first notification and the resolution; its 900 s floor skips every repeat
    wait_until(lambda: len(episode.mails(alert_id)) >= 2, timeout=10, interval=0.05, message="mails")
    assert sorted(episode.mails(alert_id)) == ["firing", "resolved"]


def test_breach_back_within_the_cooldown_continues_the_same_alert(episode: Episode) -> None:
    episode.feed("kraken", connected=False)
    wait_until(lambda: episode.active_id("kraken"), timeout=10, interval=0.02, message="alert active")
    alert_id = episode.active_id("kraken")
    assert alert_id
    wait_until(lambda: episode.hooks(alert_id), timeout=10, interval=0.02, message="first notification")
    first_at = episode.hooks(alert_id)[0][1]

    episode.feed("kraken", connected=True)
    wait_until(lambda: episode.active_id("kraken") is None, timeout=5, interval=0.01, message="resolved")
    back = time.monotonic()
    episode.feed("kraken", connected=False)  # within the cooldown (and before the resolved notice)
    wait_until(lambda: episode.active_id("kraken") == alert_id, timeout=5, interval=0.01, message="re-opened")
    assert time.monotonic() - back <= 1.0  # active again within 1 s, the same alert
    # The record follows the active hash (the truth, written by Lua) a moment later (manager._sync_state):
    # read at once, it still said "resolved" on a loaded host.
    wait_until(lambda: json.loads(episode.store.r.get(episode.keys.alert(alert_id)))["state"] == "firing",
               timeout=2, interval=0.01, message="the record firing again")
    record = json.loads(episode.store.r.get(episode.keys.alert(alert_id)))
    assert record["state"] == "firing"

    # still holding after the cooldown: a repeat of the same alert, no second "firing"
    wait_until(lambda: any(k.startswith("repeat-") for k, _ in episode.hooks(alert_id)), timeout=10,
               interval=0.05, message="a repeat after the cooldown")
    hooks = episode.hooks(alert_id)
    assert [k for k, _ in hooks].count("firing") == 1
    repeat_at = next(t for k, t in hooks if k.startswith("repeat-"))
    assert repeat_at - first_at >= COOLDOWN * 0.8
    assert "resolved" not in [k for k, _ in hooks]  # the flap was not notified

    episode.feed("kraken", connected=True)
    wait_until(lambda: episode.active_id("kraken") is None, timeout=5, interval=0.02, message="resolved at last")
    wait_until(lambda: "resolved" in [k for k, _ in episode.hooks(alert_id)], timeout=10, interval=0.05,
               message="resolved notice")
    resolved_at = time.monotonic()
    # nothing more comes: one resolved notice at the end (wait past another resolve_after + cooldown)
    wait_until(lambda: time.monotonic() - resolved_at > RESOLVE_AFTER + COOLDOWN, timeout=10, interval=0.1,
               message="quiet period")
    kinds = [k for k, _ in episode.hooks(alert_id)]
    assert kinds.count("resolved") == 1 and kinds[-1] == "resolved" and kinds.count("firing") == 1
    assert episode.store.r.zrange(episode.keys.alerts_history, 0, -1) == [alert_id]
