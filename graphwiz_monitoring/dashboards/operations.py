"""The operational dashboards: alerts & notifications, health & recovery, Celery queues & ingest.

Expressions that filter for a condition ("alerts firing", "deliveries failed") can legitimately
return nothing; they carry ``condition_only`` with the reason, and the live dashboard test accepts
them empty. Single-number stats use ``or vector(0)`` so they show 0 rather than "No data".
"""

from __future__ import annotations

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.dashboards.model import (
    NEUTRAL_COLOR,
    OK_COLOR,
    SEVERITY_COLORS,
    Dashboard,
    Row,
    ValueText,
    above,
    below,
    q,
    stat,
    state_timeline,
    table,
    timeseries,
)
from graphwiz_monitoring.dashboards.prometheus_rules import (
    JOURNAL_FILLING_FRACTION,
    SCRAPE_JOBS,
    journal_fill_expr,
)
from graphwiz_monitoring.dashboards.promql import Regex, gauge, increase, rate, sum_
from graphwiz_monitoring.vocabulary import AlertSeverity

ALERTS_UID, HEALTH_UID, QUEUES_UID = "graphwiz-alerts", "graphwiz-health", "graphwiz-queues"
# A Celery backlog this long means workers cannot keep up (ingest batches arrive every 50 ms at most).
QUEUE_BACKLOG_WARNING = 1000
NOTIFY_QUEUES = Regex("notify[.].+")
_W, _C, _X = AlertSeverity.WARNING, AlertSeverity.CRITICAL, AlertSeverity.EMERGENCY

NO_ALERT_FIRING = "empty while no alert fires"
NO_ALERT_CREATED = "empty until an alert has been created"
NO_NOTIFICATION = "empty until a notification has been attempted"
NO_FAILURE = "empty while every delivery succeeds"
NO_RECOVERY = "empty until a recovery action has run"
NO_REJECTION = "empty while every ingested record is valid"

HEALTH_STATES = (
    ValueText(-1, "not judged", NEUTRAL_COLOR),
    ValueText(0, "healthy", OK_COLOR),
    ValueText(1, "degraded", SEVERITY_COLORS[_W]),
    ValueText(2, "unhealthy", SEVERITY_COLORS[_C]),
    ValueText(3, "critical", SEVERITY_COLORS[_X]),
)
BREAKER_STATES = (
    ValueText(0, "closed", OK_COLOR),
    ValueText(1, "half open", SEVERITY_COLORS[_W]),
    ValueText(2, "open", SEVERITY_COLORS[_C]),
)


def _or_zero(expr: str) -> str:
    return f"{expr} or vector(0)"


def alerts_dashboard(settings: Settings | None = None) -> Dashboard:
    """Alerts and notifications (``DashboardConfig.get_alerts_dashboard()``)."""
    severities = tuple(
        stat(f"Firing: {s.value}", q(_or_zero(sum_(gauge("graphwiz_alert_active", severity=s.value))), s.value),
             decimals=0, thresholds=above(1, s))
        for s in AlertSeverity
    )
    return Dashboard(
        uid=ALERTS_UID,
        title="GraphWiz Alerts & Notifications",
        description="Firing alerts by severity and rule, alert history, notification delivery, the outbox and "
                    "dead letters.",
        rows=(
            Row("Alerts", (
                *severities,
                stat("Firing: all", q(_or_zero(sum_(gauge("graphwiz_alert_active"))), "firing"), decimals=0,
                     thresholds=above(1, _W)),
                stat("Dead letters", q(gauge("graphwiz_dead_letters"), "dead letters"), decimals=0,
                     thresholds=above(1, _W),
                     description="Payloads and notifications that could not be processed; inspect with the CLI."),
                table("Firing alerts", q(f"{gauge('graphwiz_alert_active')} > 0", condition_only=NO_ALERT_FIRING)),
                timeseries("Firing alerts by rule",
                           q(sum_(gauge("graphwiz_alert_active"), ("rule", "severity")), "{{rule}} ({{severity}})",
                             condition_only=NO_ALERT_CREATED), decimals=0),
                timeseries("Alerts created per hour",
                           q(sum_(increase("graphwiz_alert_total", "1h"), ("rule",)), "{{rule}}",
                             condition_only=NO_ALERT_CREATED), width=24),
            )),
            Row("Notifications", (
                timeseries("Notifications per second",
                           q(sum_(rate("graphwiz_notifications_total"), ("channel", "outcome")),
                             "{{channel}} {{outcome}}", condition_only=NO_NOTIFICATION), unit="ops"),
                timeseries("Failed deliveries per second",
                           q(sum_(rate("graphwiz_notifications_total", outcome=Regex("failed|dead_lettered")),
                                  ("channel", "outcome")), "{{channel}} {{outcome}}", condition_only=NO_FAILURE),
                           unit="ops", thresholds=above(0.001, _W)),
                timeseries("Notification outbox", q(gauge("graphwiz_notify_outbox_entries"), "entries"),
                           decimals=0, description="Notifications recorded with their alert but not yet handed to "
                                                   "the notify queues; normally empty within milliseconds."),
                timeseries("Oldest outbox entry", q(gauge("graphwiz_notify_outbox_oldest_age_seconds"), "age"),
                           unit="s", description="Since recorded or last retried by the outbox sweep (every 15 s); "
                                                 "graphwiz_notification_outbox_stuck fires when entries stay 2 min."),
            )),
        ),
    )


def health_dashboard(settings: Settings | None = None) -> Dashboard:
    """Health checks, circuit breakers, recovery actions, trading paused, trader heartbeat and client."""
    settings = settings or Settings()
    stale = settings.health_checks.trader_stale_seconds
    failures = settings.circuit_breakers.failure_threshold
    return Dashboard(
        uid=HEALTH_UID,
        title="GraphWiz Health & Recovery",
        description="Health check results, circuit breakers, recovery actions, whether trading is paused and "
                    "the trader client's delivery state.",
        rows=(
            Row("Health checks", (
                stat("Trading", q(gauge("graphwiz_trading_paused"), "paused"), width=6,
                     mappings=(ValueText(0, "running", OK_COLOR), ValueText(1, "paused", SEVERITY_COLORS[_C])),
                     thresholds=above(1, _C)),
                stat("Trader last seen", q(f"time() - {gauge('graphwiz_trader_last_seen_timestamp_seconds')}", "age"),
                     unit="s", width=6, decimals=0, thresholds=above(stale, _C),
                     description=f"Seconds since the trader's last report; stale after {stale:g} s."),
                stat("Unhealthy checks", q(_or_zero(f"count({gauge('graphwiz_health_status')} >= 2)"), "unhealthy"),
                     width=6, decimals=0, thresholds=above(1, _C)),
                stat("Open breakers", q(_or_zero(f"count({gauge('graphwiz_circuit_breaker_state')} == 2)"), "open"),
                     width=6, decimals=0, thresholds=above(1, _C)),
                state_timeline("Health checks", q(gauge("graphwiz_health_status"), "{{check}}"),
                               mappings=HEALTH_STATES, width=24, height=9),
                table("Current status", q(gauge("graphwiz_health_status")), mappings=HEALTH_STATES),
                timeseries("Seconds since last run",
                           q(f"time() - {gauge('graphwiz_health_check_last_run_timestamp_seconds')}", "{{check}}"),
                           unit="s"),
            )),
            Row("Circuit breakers", (
                state_timeline("Breaker state", q(gauge("graphwiz_circuit_breaker_state"), "{{name}}"),
                               mappings=BREAKER_STATES),
                timeseries("Consecutive failures", q(gauge("graphwiz_circuit_breaker_failures"), "{{name}}"),
                           decimals=0, thresholds=above(failures, _C),
                           description=f"A breaker opens after {failures} consecutive failures."),
            )),
            Row("Recovery", (
                timeseries("Recovery actions per hour",
                           q(sum_(increase("graphwiz_recovery_actions_total", "1h"), ("action", "outcome")),
                             "{{action}} {{outcome}}", condition_only=NO_RECOVERY), width=24),
            )),
            _trader_client(settings),
        ),
    )


def _trader_client(settings: Settings) -> Row:
    """The trader-side client's delivery state, from its heartbeat (trader/shipper.py)."""
    memory = settings.trader.buffer_max_records
    refused = increase("graphwiz_trader_records_refused_total")
    return Row("Trader client", (
        stat("Records refused (5m)", q(refused, "refused"), width=6, decimals=0, thresholds=above(1, _C),
             description="record_* calls that raised BackpressureError: the trader lost these records."),
        stat("Journal used", q(journal_fill_expr(), "journal"), unit="percentunit", width=6, decimals=1,
             thresholds=above(JOURNAL_FILLING_FRACTION, _W, (1, _C)),
             description="Undelivered batches on disk / trader.journal_max_bytes; refusals start when full."),
        stat("Records in memory", q(gauge("graphwiz_trader_pending_records"), "records"), width=6, decimals=0,
             thresholds=above(memory, _W),
             description=f"Not yet delivered; beyond trader.buffer_max_records ({memory}) batches go to the journal."),
        stat("Send failures (5m)", q(increase("graphwiz_trader_send_failures_total"), "failures"), width=6,
             decimals=0, thresholds=above(1, _W), description="Failed attempts to hand a batch to the broker."),
        timeseries("Journal size", q(gauge("graphwiz_trader_journal_bytes"), "journal"),
                   q(gauge("graphwiz_trader_journal_max_bytes"), "bound"), unit="bytes"),
        timeseries("Delivery problems per 5 minutes", q(refused, "refused records"),
                   q(increase("graphwiz_trader_batches_resent_total"), "batches re-sent (lost by the broker)"),
                   q(increase("graphwiz_trader_send_failures_total"), "send failures"), decimals=0),
    ))


def queues_dashboard(settings: Settings | None = None) -> Dashboard:
    """Celery queue backlogs, ingest throughput and rejections, and the exporter scrape itself."""
    up = gauge("up", job=SCRAPE_JOBS)
    return Dashboard(
        uid=QUEUES_UID,
        title="GraphWiz Celery & Ingest",
        description="Celery queue lengths and consumers per queue, ingest throughput, rejected records and "
                    "exporter scrapes.",
        rows=(
            Row("Queues", (
                stat("Backlog", q(_or_zero(sum_(gauge("graphwiz_celery_queue_length"))), "all queues"), width=6,
                     decimals=0, thresholds=above(QUEUE_BACKLOG_WARNING, _W)),
                stat("Notification backlog",
                     q(_or_zero(sum_(gauge("graphwiz_celery_queue_length", queue=NOTIFY_QUEUES))), "notify.*"),
                     width=6, decimals=0, thresholds=above(QUEUE_BACKLOG_WARNING, _W)),
                stat("Dead letters", q(gauge("graphwiz_dead_letters"), "dead letters"), width=6, decimals=0,
                     thresholds=above(1, _W)),
                stat("Exporter", q(up, "{{instance}}"), width=6,
                     mappings=(ValueText(0, "down", SEVERITY_COLORS[_C]), ValueText(1, "up", OK_COLOR)),
                     thresholds=below(1, _C)),
                timeseries("Queue length", q(gauge("graphwiz_celery_queue_length"), "{{queue}}"), width=24,
                           decimals=0, thresholds=above(QUEUE_BACKLOG_WARNING, _W)),
                # 0 while tasks wait: nobody will take them (rule graphwiz_queue_unconsumed).
                timeseries("Consumers (live worker processes per queue)",
                           q(gauge("graphwiz_celery_queue_consumers"), "{{queue}}"), width=24, decimals=0,
                           thresholds=below(1, _C)),
            )),
            Row("Ingest", (
                timeseries("Records ingested per second",
                           q(sum_(rate("graphwiz_ingest_records_total"), ("kind",)), "{{kind}}"), unit="ops"),
                timeseries("Records rejected per second",
                           q(sum_(rate("graphwiz_ingest_rejected_total"), ("kind",)), "{{kind}}",
                             condition_only=NO_REJECTION), unit="ops", thresholds=above(0.001, _W)),
                timeseries("Exporter scrape duration", q(gauge("scrape_duration_seconds", job=SCRAPE_JOBS),
                                                          "{{instance}}"), unit="s", width=24),
            )),
        ),
    )
