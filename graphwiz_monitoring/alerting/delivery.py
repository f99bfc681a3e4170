"""One notification delivery (alert × destination × firing|repeat-<n>|resolved): the library side of workers.notify.

A destination is a channel type (``telegram``, its section's settings) or a named destination of it
(``telegram:ops``, config/channels.py): record, rate limit, breaker, counts and dead letters below are
all per destination. The "alert" may be a grouped message (``grp-...``, alerting/grouping.py): then
the alerts it lists for this destination are sent as one message (``Channel.send_group``).

Steps of one attempt, each decided in Redis so any number of workers cooperate:

1. **Claim** the idempotency record ``delivery:{alert}:{channel}:{kind}`` (``delivery_claim.lua``):
   already sent or dead-lettered → nothing to do; another attempt holds a live lease → look again
   soon (``BUSY_POLL_SECONDS``). The lease belongs to one attempt (its token is made per attempt),
   not to the task: a redelivery of the same task is another attempt and waits too, because the
   holder may be only stalled or cut off from Redis with its request already sent (issue 11
   finding 7). The lease outlives any single send (``lease_seconds``); it frees early only when its
   holder process is surely gone (lease_holder.py: a killed sender on the claimant's host), so a
   killed worker's notification still goes out within seconds.
2. **Circuit breaker** ``channel.<name>`` (guards/breaker.py): while open, the alert is copied to the
   log channel once and the attempt counts as failed (retried later, so an outage that outlasts
   every retry still ends in the dead-letter list).
3. **Rate limit**: a cluster-wide token bucket per channel (``token_bucket.lua``), paused for
   everybody while a 429's Retry-After runs. A notification that finds no token reserves the next
   free slot, kept in its delivery record, and runs again when the slot is due (or later: a late
   task keeps its turn), sending without another token: a backlog costs ~2 task runs per
   notification, not one per waiter per token. Waiting does not count as a failure. A slot whose
   task ends otherwise (duplicate, dead letter, open circuit) is simply wasted: the channel idles
   for that 1/rate; cheaper than tracking and handing slots back.
4. **Send**; then mark done (``delivery_finish.lua``). A send that happened must be recorded: if Redis
   does not answer, the attempt keeps trying for as long as its lease protects it. The worker holds
   off Celery's termination of the task on a lost broker connection until the attempt ends
   (celery/termination.py), so a Redis restart or failover does not cut between the two.

Duplicate window: a sender killed *after* the API accepted the message and *before* the record is
marked done leaves a claim that is taken over, and the notification is sent again. So does one
stalled or cut off from Redis in that instant until its lease runs out (≥ 90 s) or its task's time
limit (50 s soft, 60 s hard) ends the attempt; a shorter stall or partition sends once. Likewise a
request that timed out may have been processed. All are at-least-once by design; nothing else can
send twice.

Retries: network errors, 5xx and 429 are retried with exponential backoff and equal jitter
(``retry_backoff_seconds`` doubling to ``retry_backoff_max_seconds``); a server's Retry-After is
honoured instead (never earlier). Other 4xx are final. After ``max_retries`` failed attempts, or a
final failure: dead-letter entry (alert id, channel, kind, reason; never a URL or token) **and** a
log-channel notice. Nothing is dropped silently.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphwiz_monitoring.alerting import grouping, lease_holder, outbox, routing
from graphwiz_monitoring.alerting.channels import Channel, ChannelRegistry
from graphwiz_monitoring.alerting.channels import registry as default_registry
from graphwiz_monitoring.alerting.channels.log import LogChannel
from graphwiz_monitoring.alerting.models import Alert, AlertChannel
from graphwiz_monitoring.alerting.records import alert_exists, load_alert, load_alerts
from graphwiz_monitoring.config import ChannelSettings, Settings
from graphwiz_monitoring.errors import DeliveryFailed, StateError
from graphwiz_monitoring.guards.breaker import CircuitBreaker
from graphwiz_monitoring.guards.rate_limit import OWN_SLOT, hold_channel, take_token
from graphwiz_monitoring.state import KeySpace, Store, stamps
from graphwiz_monitoring.state.dead_letters import add_dead_letter, remove_dead_letter
from graphwiz_monitoring.vocabulary import NOTIFICATION_KINDS, NotificationKind, kind_base

log = logging.getLogger(__name__)

SENT, DUPLICATE, SUPPRESSED, DEFERRED, RETRY, DEAD_LETTERED, UNDELIVERABLE = (
    "sent", "duplicate", "suppressed", "deferred", "retry", "dead_lettered", "undeliverable")
DEAD_LETTER_KIND = "notification"
# The lease must outlive one send: an SMTP session is up to ~6 socket operations, each bounded by
# timeout_seconds, and the Celery hard time limit (60 s) ends any task before 90 s.
LEASE_MIN_SECONDS = 90.0
LEASE_TIMEOUTS = 6
# A notification whose claim another attempt holds looks again this often (at most), so it goes on
# promptly once the holder has recorded the send, or at once when the holder turns out to be gone.
BUSY_POLL_SECONDS = 5.0
# A send that happened is recorded, whatever it takes: while Redis does not answer, try again this
# often, until this long before the lease runs out (after that another attempt may send anyway).
RECORD_RETRY_SECONDS = 1.0
RECORD_MARGIN_SECONDS = 5.0
# A finished record must outlive every redelivery of its task (visibility timeout + countdown).
RECORD_TTL_MIN_SECONDS = 24 * 3600
BREAKER_PREFIX = "channel."
# A task comes back this much after its slot: a hair early would cost it another run.
SLOT_MARGIN_SECONDS = 0.01
MAX_REASON_CHARS = 300


@dataclass(frozen=True)
class DeliveryResult:
    """What one attempt did; ``retry_in`` (seconds) is set when the task must run again."""

    outcome: str
    retry_in: float | None = None
    reason: str = ""


def backoff_seconds(failures: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with equal jitter: half of min(cap, base·2^(n-1)) plus a random half."""
    delay = min(cap, base * 2 ** max(0, failures - 1))
    return delay / 2 + (rng or random).uniform(0, delay / 2)


def honour_retry_after(seconds: float, rng: random.Random | None = None) -> float:
    """Never before the server's time; a little later so waiting workers do not all return at once."""
    return seconds + (rng or random).uniform(0, min(1.0, 0.1 * seconds + 0.01))


def lease_seconds(channel_settings: ChannelSettings) -> float:
    return max(LEASE_MIN_SECONDS, LEASE_TIMEOUTS * channel_settings.timeout_seconds)


def record_ttl_seconds(settings: Settings) -> int:
    return int(max(RECORD_TTL_MIN_SECONDS, 3 * settings.redis.visibility_timeout_seconds))


def claim_delivery(store: Store, record: str, *, token: str, lease_ms: int, ttl_seconds: int, holder: str,
                   gone_holder: str = "") -> tuple[str, int, str]:
    """``delivery_claim.lua``: (verdict, failures or ms of lease left, holder of a busy claim). ``gone_holder``
    takes over a claim whose holder process is known to be gone (only if it still holds it)."""
    # Durable: a claim lost in a failover would leave the send it covers unrecordable (finish needs it).
    verdict, value, busy_holder = store.run_script("delivery_claim", [record],
                                                   [token, lease_ms, ttl_seconds, holder, gone_holder], durable=True)
    return str(verdict), int(value), str(busy_holder or "")


def finish_delivery(store: Store, record: str, *, token: str, outcome: str, reason: str, ttl_seconds: int) -> int:
    """``delivery_finish.lua``: record this attempt's outcome (only while ``token`` holds the claim); the
    failures counted so far."""
    # Durable: a "sent" lost in a failover would have the notification sent again.
    return int(store.run_script("delivery_finish", [record], [token, outcome, reason[:MAX_REASON_CHARS], ttl_seconds],
                                durable=True))


def count(store: Store, keys: KeySpace, channel: str, outcome: str) -> None:
    """graphwiz_notifications_total{channel,outcome}: HINCRBY on ``notifications:counts``; a dead letter
    also stamps when it happened (the ``notify_dead_letters`` rule reads it, state/stamps.py)."""
    store.r.hincrby(keys.notification_counts, f"{channel}|{outcome}", 1)
    if outcome == DEAD_LETTERED:
        stamps.stamp(store, keys, stamps.NOTIFY_DEAD_LETTERED)


def read_notification_counts(store: Store, keys: KeySpace) -> dict[tuple[str, str], int]:
    raw = store.r.hgetall(keys.notification_counts) or {}
    return {tuple(k.split("|", 1)): int(v) for k, v in raw.items() if "|" in k}  # type: ignore[misc]


class _Attempt:
    """State of one attempt; methods are the steps of the module docstring."""

    def __init__(self, store: Store, keys: KeySpace, settings: Settings, channel: Channel, alert_id: str,
                 kind: str, rng: random.Random, token: str | None = None, destination: str | None = None) -> None:
        self.store, self.keys, self.settings, self.channel = store, keys, settings, channel
        self.alert_id, self.kind, self.rng = alert_id, kind, rng
        # The destination ("telegram" or "telegram:ops"): idempotency record, rate limit, breaker, counts and
        # dead letters are all per destination, so one chat or webhook never holds up another.
        self.name = destination or channel.name
        self.items: list[tuple[Alert, str]] = []  # a grouped message's alerts and their kinds
        self.cs = channel.settings
        self.record = keys.delivery(alert_id, self.name, kind)
        # One token per attempt, never reused by a redelivery or retry of the same task (``token`` is the
        # Celery task id: it prefixes the attempt's token so a record shows which task holds it).
        self.token = f"{token or 'local'}:{uuid.uuid4().hex[:12]}"
        self.holder = lease_holder.identity()
        self.lease = lease_seconds(channel.settings)
        self.claimed_at = 0.0
        self.ttl = record_ttl_seconds(settings)
        self.alert: Alert | None = None

    def finish(self, outcome: str, reason: str = "") -> int:
        return finish_delivery(self.store, self.record, token=self.token, outcome=outcome, reason=reason,
                               ttl_seconds=self.ttl)

    def give_up(self, reason: str, failures: int) -> DeliveryResult:
        self.finish("dead", reason)
        payload: dict[str, Any] = {"alert_id": self.alert_id, "channel": self.name, "kind": self.kind,
                                   "failures": failures}
        if self.alert is not None:
            payload.update(rule=self.alert.rule_name, severity=self.alert.severity.value, title=self.alert.title)
        if len(self.items) > 1:
            payload["alerts"] = [a.alert_id for a, _ in self.items]
        add_dead_letter(self.store, self.keys, DEAD_LETTER_KIND, payload, reason,
                        max_entries=self.settings.retention.dead_letters_max)
        LogChannel(self.settings.notifications.log).dead_letter_notice(self.name, self.alert, self.alert_id,
                                                                       self.kind, reason)
        count(self.store, self.keys, self.name, DEAD_LETTERED)
        return DeliveryResult(DEAD_LETTERED, reason=reason)

    def failed(self, reason: str, retry_after: float | None = None, minimum_wait: float = 0.0) -> DeliveryResult:
        count(self.store, self.keys, self.name, "failed")
        failures = self.finish("failed", reason)
        if failures > self.cs.max_retries:
            return self.give_up(f"{reason} (gave up after {failures} attempts)", failures)
        if retry_after is not None:
            wait = honour_retry_after(retry_after, self.rng)
        else:
            wait = backoff_seconds(max(1, failures), self.cs.retry_backoff_seconds,
                                   self.cs.retry_backoff_max_seconds, self.rng)
        return DeliveryResult(RETRY, max(wait, minimum_wait), reason)

    def claim(self, gone_holder: str = "") -> tuple[str, int, str]:
        """``delivery_claim.lua``: (verdict, failures or ms of lease left, holder of a busy claim)."""
        self.claimed_at = time.monotonic()
        return claim_delivery(self.store, self.record, token=self.token, lease_ms=int(self.lease * 1000),
                              ttl_seconds=self.ttl, holder=self.holder, gone_holder=gone_holder)

    def record_sent(self) -> None:
        """Mark the notification done. The request went out: losing this write would let another attempt
        send again once the lease ends, so a Redis that does not answer is waited for while the lease lasts."""
        deadline = self.claimed_at + self.lease - RECORD_MARGIN_SECONDS
        while True:
            try:
                self.finish("done")
                return
            except StateError as exc:
                if time.monotonic() + RECORD_RETRY_SECONDS > deadline:
                    raise
                log.warning("notification %s/%s/%s sent, not yet recorded (Redis: %s); trying again",
                            self.alert_id, self.name, self.kind, str(exc)[:120])
                time.sleep(RECORD_RETRY_SECONDS)

    def run(self) -> DeliveryResult:
        verdict, value, holder = self.claim()
        if verdict == "busy" and lease_holder.surely_gone(holder):
            verdict, value, holder = self.claim(gone_holder=holder)  # only if that holder still has it
            if verdict == "claimed":
                log.warning("notification %s/%s/%s: its sender died holding the claim; taking it over",
                            self.alert_id, self.name, self.kind)
        if verdict in ("done", "dead"):
            return DeliveryResult(DUPLICATE, reason=f"already {verdict}")
        if verdict == "busy":
            wait = min(value / 1000.0, BUSY_POLL_SECONDS)
            return DeliveryResult(DEFERRED, wait + self.rng.uniform(0, 0.5), "claimed by another task")
        self.items = load_notice(self.store, self.keys, self.alert_id, self.name, self.kind)
        self.alert = self.items[0][0] if self.items else None
        if self.alert is None:
            return self.give_up("alert record not found (expired or never stored)", int(value))

        # Before the breaker: a half-open trial must not be spent waiting for a token.
        verdict, wait = take_token(self.store, self.keys, self.name, self.cs.rate_limit, self.record)
        if wait > 0:
            self.finish("released", "rate limited")  # a reserved slot stays in the record
            # Its own slot: back just after it. Held or full: everybody got the same wait, so spread them.
            late = SLOT_MARGIN_SECONDS if verdict in OWN_SLOT else self.rng.uniform(0, 0.1 * wait + 0.02)
            return DeliveryResult(DEFERRED, wait + late, f"rate limited: {verdict}")

        breaker = None
        if self.name != AlertChannel.LOG.value:
            breaker = CircuitBreaker(self.store, self.keys, BREAKER_PREFIX + self.name, self.settings.circuit_breakers)
            decision = breaker.allow()
            if not decision.allowed:
                if self.finish("fallback") == 1:
                    for alert, kind in self.items:
                        LogChannel(self.settings.notifications.log).fallback_notice(
                            self.name, alert, kind, f"circuit {decision.state.value}")
                retry_at = breaker.status().retry_at
                until = max(0.0, retry_at - time.time()) if retry_at else 0.0
                return self.failed(f"{self.name}: circuit {decision.state.value}", minimum_wait=until)

        failure: DeliveryFailed | None = None
        try:
            if len(self.items) > 1:
                self.channel.send_group(self.items)
            else:
                self.channel.send(self.alert, self.kind)
        except DeliveryFailed as exc:
            failure = DeliveryFailed(self.channel.redact(exc.reason), retryable=exc.retryable,
                                     retry_after=exc.retry_after)
        except Exception as exc:  # a bug in a channel must not lose the alert: retry, then dead-letter
            failure = DeliveryFailed(f"{self.name}: unexpected {type(exc).__name__}: "
                                     f"{self.channel.redact(str(exc))[:200]}", retryable=True)
            log.error("channel %s raised %s", self.name, failure.reason)
        if failure is None:
            self.record_sent()
            if breaker is not None:
                breaker.record_success()
            count(self.store, self.keys, self.name, SENT)
            return DeliveryResult(SENT)

        outage = failure.retryable and failure.retry_after is None  # a 429/503 with a wait is an answer
        if breaker is not None:
            breaker.record_failure(failure.reason) if outage else breaker.record_success()
        if failure.retry_after is not None:
            hold_channel(self.store, self.keys, self.name, failure.retry_after)
        log.info("notification %s/%s/%s failed: %s", self.alert_id, self.name, self.kind, failure.reason)
        if not failure.retryable:
            count(self.store, self.keys, self.name, "failed")
            return self.give_up(failure.reason, int(value) + 1)
        return self.failed(failure.reason, failure.retry_after)


def deliver_notification(store: Store, keys: KeySpace, settings: Settings, alert_id: str, channel: str,
                         kind: str = "firing", *, channel_registry: ChannelRegistry = default_registry,
                         rng: random.Random | None = None, token: str | None = None) -> DeliveryResult:
    """One attempt to deliver ``alert_id`` via ``channel``; the caller re-runs it after ``retry_in``."""
    name = channel.strip().lower() if isinstance(channel, str) else str(channel)[:50]
    bad_id = not isinstance(alert_id, str) or not 0 < len(alert_id) <= 200
    channel_type = _channel_type(name)
    if bad_id or kind not in NOTIFICATION_KINDS or channel_type not in channel_registry:
        reason = ("malformed alert id" if bad_id else
                  f"unknown kind {str(kind)[:20]!r}" if kind not in NOTIFICATION_KINDS else f"unknown channel {name!r}")
        shown_id = str(alert_id)[:64]  # a hostile task payload must not become a huge log line
        add_dead_letter(store, keys, DEAD_LETTER_KIND, {"alert_id": shown_id, "channel": name,
                                                        "kind": str(kind)[:20]}, reason,
                        max_entries=settings.retention.dead_letters_max)
        log.error("NOTIFICATION FAILED: %s for alert %s, moved to the dead-letter list", reason, shown_id)
        stamps.stamp(store, keys, stamps.NOTIFY_DEAD_LETTERED)
        return DeliveryResult(DEAD_LETTERED, reason=reason)
    outbox.started(store, keys, alert_id, kind, name)
    try:
        channel_settings = settings.notifications.destination(name)
    except ValueError:  # a destination this deployment does not define
        return _not_here(store, keys, settings, alert_id, name, kind)
    if not channel_settings.active:
        return _not_here(store, keys, settings, alert_id, name, kind)
    if kind_base(kind) is NotificationKind.RESOLVED and not channel_settings.send_resolved:
        log.info("notification %s via %s (%s) suppressed: resolved notifications off", alert_id, name, kind)
        count(store, keys, name, SUPPRESSED)
        return DeliveryResult(SUPPRESSED, reason="resolved notifications off")
    instance = channel_registry.get(channel_type)(channel_settings)
    attempt = _Attempt(store, keys, settings, instance, alert_id, kind, rng or random.Random(), token, name)
    try:
        return attempt.run()
    except StateError:
        raise  # Redis trouble: nothing was decided, the task tries again
    except Exception as exc:  # a bug here must not lose the notification silently
        reason = f"{name}: internal error {type(exc).__name__}: {instance.redact(str(exc))[:200]}"
        log.error("delivery of %s via %s failed: %s", alert_id, name, reason)  # no traceback: it may hold secrets
        return attempt.give_up(reason, 0)


def _not_here(store: Store, keys: KeySpace, settings: Settings, alert_id: str, name: str, kind: str) -> DeliveryResult:
    """``name`` is not configured (or disabled) in this deployment: the worker's configuration decides.

    When another destination of the alert is active here, this one is ``suppressed`` (counted, logged at
    INFO): the deployment chose not to have it (and whether resolved notices go out is that channel's
    ``send_resolved``, a decision too). When none is, the notification would be lost: it goes to the
    log channel (always, whatever ``notifications.log`` says) and counts in
    ``graphwiz_notifications_undeliverable_total{channel}``, once per channel asked for.
    """
    items = load_notice(store, keys, alert_id, name, kind)
    alert = items[0][0] if items else None
    asked = routing.destinations(alert, settings.alerts) if alert is not None else []
    if any(d != name and settings.notifications.has_destination(d) and settings.notifications.destination(d).active
           for d in asked):
        log.info("notification %s via %s (%s) suppressed: channel disabled or not configured in this deployment",
                 alert_id, name, kind)
        count(store, keys, name, SUPPRESSED)
        return DeliveryResult(SUPPRESSED, reason="channel disabled or not configured")
    # Once per notification (a redelivered task must not count or log it again): the record's fallback mark.
    if finish_delivery(store, keys.delivery(alert_id, name, kind), token="", outcome="fallback", reason="",
                       ttl_seconds=record_ttl_seconds(settings)) != 1:
        return DeliveryResult(DUPLICATE, reason="already reported undeliverable")
    store.r.hincrby(keys.notifications_undeliverable, name, 1)
    log_channel = LogChannel(settings.notifications.log)
    if not items:
        log_channel.undeliverable_notice(name, None, alert_id, kind)
    for member, member_kind in items:  # each alert of a grouped message on its own line
        log_channel.undeliverable_notice(name, member, member.alert_id, member_kind)
    return DeliveryResult(UNDELIVERABLE, reason=f"{name}: not configured or disabled in this deployment; no "
                                                "channel of the alert can deliver it (copied to the log)")


def _channel_type(destination: str) -> str:
    """``telegram`` of ``telegram:ops`` (the registry knows channel types; destinations are names of them)."""
    return destination.partition(":")[0]


def load_notice(store: Store, keys: KeySpace, alert_id: str, destination: str, kind: str) -> list[tuple[Alert, str]]:
    """What one notification tells: its alert and kind, or a grouped message's alerts routed to ``destination``
    (alerting/grouping.py) with each one's kind; expired alerts are left out; [] when nothing is left."""
    if not grouping.is_message_id(alert_id):
        alert = load_alert(store, keys, alert_id)
        return [(alert, kind)] if alert is not None else []
    pairs = grouping.members_for(store, keys, alert_id, destination)
    loaded = load_alerts(store, keys, [a for a, _ in pairs])
    items = [(alert, k) for alert, (_, k) in zip(loaded, pairs, strict=True) if alert is not None]
    return sorted(items, key=lambda item: item[0].created_at)  # in the order the storm's alerts started


def read_undeliverable_counts(store: Store, keys: KeySpace) -> dict[str, int]:
    """graphwiz_notifications_undeliverable_total{channel}."""
    return {k: int(v) for k, v in (store.r.hgetall(keys.notifications_undeliverable) or {}).items()}


def reset_delivery(store: Store, keys: KeySpace, alert_id: str, channel: str, kind: str) -> None:
    """Forget a notification's record so it can be delivered again (``dlq retry``)."""
    store.r.delete(keys.delivery(alert_id, channel, kind))


def deliver_now(store: Store, keys: KeySpace, settings: Settings, alert_id: str, channel: str,
                kind: str = "firing", max_wait_seconds: float = 10.0) -> DeliveryResult:
    """Deliver from this process (CLI ``test-alert``): waits out rate limits, reports a failure at once."""
    while True:
        result = deliver_notification(store, keys, settings, alert_id, channel, kind)
        if result.outcome != DEFERRED or (result.retry_in or 0) > max_wait_seconds:
            return result
        time.sleep(result.retry_in or 0)


def requeue_dead_letter(store: Store, keys: KeySpace, entry: dict[str, Any],
                        enqueue: Callable[[str, str, str], None]) -> str | None:
    """Send a dead-lettered notification again (``dlq retry``); returns why not, or None when re-queued.

    Order matters: the record is reset and the task queued before the entry leaves the list, so a
    failure in between leaves the entry in place rather than losing the notification.
    """
    if entry.get("kind") != DEAD_LETTER_KIND:
        return f"entry {entry.get('id')} is a {entry.get('kind')!r} dead letter, not a notification"
    payload = entry.get("payload") or {}
    alert_id, channel, kind = (str(payload.get(k) or "") for k in ("alert_id", "channel", "kind"))
    if not (alert_id and _channel_type(channel) in default_registry and kind in NOTIFICATION_KINDS):
        return f"entry {entry.get('id')} does not name a known alert/channel/kind"
    if not (grouping.is_message_id(alert_id) or alert_exists(store, keys, alert_id)):
        return f"entry {entry.get('id')}: alert {alert_id} has expired (alerts.history_retention_hours)"
    reset_delivery(store, keys, alert_id, channel, kind)
    enqueue(alert_id, channel, kind)
    remove_dead_letter(store, keys, entry["id"])
    return None
