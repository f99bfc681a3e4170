"""The trader's own fallback: it tells someone itself when the monitoring pipeline is down.

Every alert of the monitoring goes through Redis, Celery and the notify workers, so when those stop
nobody is told. The trader's client knows it, though: its sent batches are looked up in
``batches:seen`` (inflight.py), and while the broker is unreachable they go to the journal. Here,
"pipeline down" means: something waits to be recorded by a worker (sent and unrecorded, queued, or
journaled because Redis does not answer) and no worker has recorded any batch for
``trader.pipeline_stale_seconds``. A trader with nothing to deliver is not a dead pipeline (in
practice there always is something: a heartbeat every ``trader.heartbeat_interval_seconds``).

The trader then sends one "monitoring pipeline down" notification directly (no broker, no Redis)
through each channel named by ``trader.fallback_channels`` (webhook, Telegram, Discord, Slack), with
the channel settings of the trader's own configuration (its ``notifications`` section), and one
"back" notice once a worker records a batch again. Rate limit: at most one down and one back notice
per episode, and a new episode is announced no sooner than ``pipeline_stale_seconds`` after the
previous "back". Each send is retried a bounded number of times (``MAX_ATTEMPTS``, the channel's
``retry_backoff_seconds`` doubling up to ``retry_backoff_max_seconds``); a notice that could not be
delivered is logged (channel name and the channel's redacted reason; never a URL or token).

All of it runs in its own daemon thread (``graphwiz-fallback``): ``record_*`` never waits for it.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.trader.background import BackgroundLoop

log = logging.getLogger(__name__)

RULE_NAME = "graphwiz_pipeline_down"
DOWN_TITLE = "Monitoring pipeline down"
BACK_TITLE = "Monitoring pipeline back"
MAX_ATTEMPTS = 4  # per notice and channel: the first send and 3 retries
MAX_POLL_SECONDS = 1.0

# () -> (something waits to be recorded, batches recorded so far), or None (no confirmation configured)
Progress = Callable[[], "tuple[bool, int] | None"]


class PipelineFallback(BackgroundLoop):
    """Watches the client's progress and sends the down/back notices; see the module docstring."""

    thread_name = "graphwiz-fallback"

    def __init__(self, settings: Settings, progress: Progress, *, identity: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.settings = settings
        self._progress = progress
        self._clock = clock
        self._stale = settings.trader.pipeline_stale_seconds
        self._identity = identity or settings.trader.name or socket.gethostname()
        self._channels: list[Any] | None = None  # built in the thread: never on the record_* path
        self._recorded: int | None = None
        self._stale_since: float | None = None  # since when something waits with no batch recorded
        self._not_before = 0.0  # rate limit: no new episode before this (monotonic)
        self._down: Any = None  # the "pipeline down" Alert of the current episode, once announced
        self.sent: dict[str, int] = {"down": 0, "back": 0, "failed": 0}

    # ------------------------------------------------------------ the decision (one tick)
    def tick(self) -> str | None:
        """Look at the client's progress once; returns "down" or "back" when that notice is due now."""
        answer = self._progress()
        if answer is None:
            return None
        waiting, recorded = answer
        now = self._clock()
        progressed = self._recorded is not None and recorded != self._recorded
        self._recorded = recorded
        if progressed or not waiting:
            self._stale_since = None
            if progressed and self._down is not None:
                return "back"
            return None
        if self._stale_since is None:
            self._stale_since = now
        if self._down is None and now - self._stale_since >= self._stale and now >= self._not_before:
            return "down"
        return None

    def _run(self) -> None:
        poll = min(MAX_POLL_SECONDS, self._stale / 4)
        while not self._stop.wait(poll):
            try:
                due = self.tick()
                if due == "down":
                    self._announce_down()
                elif due == "back":
                    self._announce_back()
            except Exception as exc:  # the fallback never takes the trader down
                log.error("pipeline fallback: %s", type(exc).__name__)

    # ------------------------------------------------------------ the notices
    def _announce_down(self) -> None:
        from graphwiz_monitoring.alerting.models import Alert
        from graphwiz_monitoring.vocabulary import AlertSeverity

        since = self._stale_since if self._stale_since is not None else self._clock()
        silent = self._clock() - since
        self._down = Alert(
            rule_name=RULE_NAME, title=DOWN_TITLE, severity=AlertSeverity.CRITICAL,
            message=(f"Trader {self._identity}: no monitoring worker has recorded its batches for {silent:.0f} s "
                     f"(trader.pipeline_stale_seconds={self._stale:g}); alerts, metrics and notifications of "
                     "the monitoring are not being processed. Sent by the trader directly."),
            labels={"trader": self._identity}, fingerprint=RULE_NAME, metadata={"silent_seconds": round(silent, 1)})
        log.error("monitoring pipeline down: no worker recorded a batch for %.0f s; telling %s", silent,
                  ", ".join(self.settings.trader.fallback_channels))
        self._send(self._down, "firing", "down")

    def _announce_back(self) -> None:
        from graphwiz_monitoring.alerting.models import AlertState

        alert, self._down = self._down, None
        assert alert is not None
        alert.state, alert.resolved_at = AlertState.RESOLVED, time.time()
        alert.title = BACK_TITLE
        alert.message = f"Trader {self._identity}: monitoring workers record its batches again."
        self._not_before = self._clock() + self._stale
        log.warning("monitoring pipeline back: a worker recorded the trader's batches again")
        self._send(alert, "resolved", "back")

    def channels(self) -> list[Any]:
        if self._channels is None:
            from graphwiz_monitoring.alerting.channels.registry import registry

            self._channels = [registry.create(name, self.settings.notifications)
                              for name in self.settings.trader.fallback_channels]
        return self._channels

    def _send(self, alert: Any, kind: str, what: str) -> None:
        from graphwiz_monitoring.errors import DeliveryFailed

        for channel in self.channels():
            s = channel.settings
            backoff = s.retry_backoff_seconds
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    channel.send(alert, kind)
                except DeliveryFailed as exc:
                    reason, retry = channel.redact(exc.reason), exc.retryable
                    wait = exc.retry_after if exc.retry_after is not None else backoff
                except Exception as exc:  # a channel bug: the type only, a message might hold a secret
                    reason, retry, wait = type(exc).__name__, True, backoff
                else:
                    self.sent[what] += 1
                    log.info("pipeline %s notice sent to %s", what, channel.name)
                    break
                if not retry or attempt == MAX_ATTEMPTS:
                    self.sent["failed"] += 1
                    log.error("pipeline %s notice not delivered to %s after %d attempt(s): %s", what,
                              channel.name, attempt, reason)
                    break
                if self._stop.wait(min(wait, s.retry_backoff_max_seconds)):
                    return
                backoff = min(backoff * 2, s.retry_backoff_max_seconds)
