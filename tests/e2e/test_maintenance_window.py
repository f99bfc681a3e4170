"""A maintenance window opening and closing while an alert fires, end to end: real rules and notify
workers, evaluations sent as the beat would (only faster), a loopback webhook receiver.

The window is recurring with a seconds field (croniter's sixth field): open 5 s of every 10 s, so it
opens and closes during the test. The rule is EMERGENCY with a 1 s cooldown, so outside the window a
notification arrives every second; inside it none does, and the alert shows "in maintenance".
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from graphwiz_monitoring.metrics.ingest import ingest_batch
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import wait_until
from tests.fakes.notify_fixtures import config_yaml, make_settings, notifications_config

pytestmark = pytest.mark.e2e

CYCLE, OPEN = 10.0, 5.0  # the window is open while time.time() % CYCLE < OPEN
MARGIN = 0.4  # a decision taken just before a window edge reaches the receiver a little after it
# No storm grouping: the two alerts' repeats would go out as one message at the group window's end.
ALERTS = {"cooldowns": {"emergency": 1}, "group_interval_seconds": 0,
          "rules": {"exchange_disconnect": {"severity": "emergency", "channels": ["webhook"]}},
          "maintenance": {"every_ten_seconds": {"cron": "* * * * * */10", "duration": f"{OPEN:g}s",
                                                "matchers": {"rule": "exchange_disconnect"}}}}


def _phase() -> float:
    return time.time() % CYCLE


def _wait_for_phase(low: float, high: float) -> None:
    wait_until(lambda: low <= _phase() < high, timeout=CYCLE + 1, interval=0.02, message=f"phase {low}..{high}")


def test_a_window_holds_notifications_while_open_and_not_before_or_after(celery_processes, redis_url,
                                                                         webhook_receiver) -> None:
    from graphwiz_monitoring.celery import create_app

    notifications = notifications_config(webhook=webhook_receiver)
    settings = make_settings(redis_url, notifications, alerts=ALERTS)
    store, keys = Store(redis_url), KeySpace(settings.redis.namespace)
    extra = config_yaml(notifications, alerts=ALERTS)
    workers = [celery_processes("worker", "-Q", "rules", "-c", "1", "-n", "rules@%h", "--loglevel", "INFO",
                                config_extra=extra),
               celery_processes("worker", "-Q", "notify.webhook", "-c", "1", "-n", "notify@%h", "--loglevel",
                                "INFO", config_extra=extra)]
    app, stop = create_app(settings), threading.Event()

    def drive() -> None:  # evaluations, as the beat sends them, every 0.1 s
        while not stop.wait(0.1):
            app.send_task("workers.rules.evaluate")

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    wall = time.time() - time.monotonic()

    def feed(exchange: str) -> None:
        batch = {"batch_id": f"{exchange}-{time.monotonic_ns()}",
                 "records": [{"kind": "exchange_status", "data": {"exchange": exchange, "connected": False}}]}
        assert not ingest_batch(store, keys, settings, batch).rejected

    def alert_of(exchange: str) -> dict[str, Any] | None:
        for alert_id in store.r.hvals(keys.alerts_active):
            alert = json.loads(store.r.get(keys.alert(alert_id)) or "{}")
            if alert.get("labels") == {"exchange": exchange}:
                return alert
        return None

    def arrivals(alert: dict[str, Any]) -> list[tuple[str, float]]:
        """(kind, wall-clock arrival) of the webhook notifications of ``alert``."""
        return [(r.json["kind"], r.arrived + wall) for r in webhook_receiver.delivered()
                if r.json["alert_id"] == alert["alert_id"]]

    try:
        # 1. the window is closed: the breach is notified at once
        _wait_for_phase(5.5, 6.5)
        feed("binance")
        wait_until(lambda: alert_of("binance"), timeout=3, interval=0.02, message="binance alert active")
        binance = alert_of("binance")
        assert binance is not None
        wait_until(lambda: arrivals(binance), timeout=2, interval=0.02, message="first notification")
        assert arrivals(binance)[0][0] == "firing"

        # 2. the window opens: the alert stays active, shown in maintenance; nothing arrives
        _wait_for_phase(1.0, 2.0)
        feed("kraken")  # an alert starting inside the window
        wait_until(lambda: (alert_of("kraken") or {}).get("metadata", {}).get("maintenance"), timeout=2,
                   interval=0.02, message="kraken active, in maintenance")
        wait_until(lambda: (alert_of("binance") or {}).get("metadata", {}).get("maintenance"), timeout=2,
                   interval=0.02, message="binance shown in maintenance")
        kraken = alert_of("kraken")
        assert kraken is not None and kraken["metadata"]["maintenance"]["window"] == "every_ten_seconds"

        # 3. the window closes: repeats resume for both, the one born inside the window included
        _wait_for_phase(OPEN + 1.6, OPEN + 2.0)
        opened_at = time.time() - _phase()
        wait_until(lambda: arrivals(kraken), timeout=2, interval=0.05, message="kraken notified after the window")
        held = [(k, t) for k, t in arrivals(binance) + arrivals(kraken)
                if opened_at + MARGIN <= t < opened_at + OPEN - MARGIN]
        assert held == [], held  # nothing arrived while the window was open
        before = [t for _, t in arrivals(binance) if opened_at - OPEN <= t < opened_at]
        after = [t for _, t in arrivals(binance) if t >= opened_at + OPEN]
        assert len(before) >= 3 and after, (before, after)  # a repeat a second outside the window
        assert all(k.startswith("repeat-") for k, _ in arrivals(kraken))  # "still firing" once it may be told
        assert not (alert_of("binance") or {}).get("metadata", {}).get("maintenance")  # the mark is cleared
    finally:
        stop.set()
        driver.join(5)
    for worker in workers:
        assert "Traceback" not in worker.output(), worker.output()[-3000:]
