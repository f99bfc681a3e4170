"""The built-in alert rules as a Prometheus rule file, for teams that alert in Prometheus/Alertmanager.

Thresholds, severities, channels and ``for`` come from the built-in rule definitions
(``alerting.rules.BUILTIN_RULES``) with the ``alerts.rules.<name>`` overrides applied, so the rule
file and the Celery rule engine never disagree; a disabled rule is left out. Two built-ins read
snapshot values that are not exported one-to-one and are approximated from the health checks'
status (see ``APPROXIMATIONS``). A second group watches the pipeline itself: when the exporter is
down every graphwiz series vanishes and no built-in rule could fire; when it cannot reach Redis (the
same, with ``up`` still 1); when the trader client refuses records or its journal fills; when
notifications stay in the outbox; when tasks wait in a queue that no live worker consumes (the
built-in rule ``queue_unconsumed``, kept under its earlier name here: see ``EXPORTED_AS_META``); and
an always-firing watchdog for an outside dead-man's switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.dashboards.promql import Regex, gauge, increase, quantile
from graphwiz_monitoring.errors import DashboardError
from graphwiz_monitoring.rulebook.rules import BUILTIN_RULES, builtin_rule
from graphwiz_monitoring.vocabulary import AlertChannel, AlertSeverity

BUILTIN_GROUP = "graphwiz-builtin"
META_GROUP = "graphwiz-meta"
SCRAPE_JOB = "graphwiz"  # the job name of the generated prometheus.yml
# Rules and panels match both it and the original description's job name, "graphwiz-trader".
SCRAPE_JOBS = Regex("graphwiz.*")
EXPORTER_DOWN_FOR_SECONDS = 60
JOURNAL_FILLING_FRACTION = 0.5  # of trader.journal_max_bytes: half-way to refusing records
JOURNAL_FILLING_FOR_SECONDS = 300
OUTBOX_STUCK_FOR_SECONDS = 120
QUEUE_BACKLOG_FOR_SECONDS = 300
EXPORTER_REDIS_DOWN_FOR_SECONDS = 60
WATCHDOG_ALERT = "graphwiz_watchdog"
# graphwiz_health_status values (health/models.py HealthStatus.severity_rank)
HEALTH_DEGRADED, HEALTH_UNHEALTHY = 1, 2

# Prometheus has no per-agent failure counter or Neo4j connection gauge; these built-ins fire on the
# matching health check instead. Their thresholds (if any) do not apply in Prometheus.
APPROXIMATIONS = {
    "neo4j_disconnect": "the neo4j_connectivity health check is unhealthy or worse",
    "agent_failure": "the agent_health health check reports failing agents (degraded or worse)",
}


@dataclass(frozen=True)
class _Spec:
    expr: str  # "{threshold}" is replaced by the effective threshold, "{threshold_percent}" by it x 100
    summary: str
    description: str


_HOST = "{{ $labels.host }}"
_EXCHANGE = "{{ $labels.exchange }}"
_VALUE_1F = '{{ $value | printf "%.1f" }}'
_VALUE_0F = '{{ $value | printf "%.0f" }}'
_SPECS: dict[str, _Spec] = {
    "high_cpu": _Spec(
        f"{gauge('graphwiz_system_cpu_usage_percent')} > {{threshold}}",
        f"High CPU usage on {_HOST}", f"CPU usage at {_VALUE_1F}% on {_HOST} (threshold {{threshold}}%)"),
    "high_memory": _Spec(
        f"{gauge('graphwiz_system_memory_usage_percent')} > {{threshold}}",
        f"High memory usage on {_HOST}", f"Memory usage at {_VALUE_1F}% on {_HOST} (threshold {{threshold}}%)"),
    "exchange_disconnect": _Spec(
        f"{gauge('graphwiz_exchange_connected')} == 0",
        f"Exchange {_EXCHANGE} disconnected", f"Lost connection to exchange {_EXCHANGE}"),
    "high_latency": _Spec(
        f"{quantile(0.99, 'graphwiz_exchange_latency_seconds', by=('exchange',))} > {{threshold}}",
        f"High latency on {_EXCHANGE}",
        f"P99 latency on {_EXCHANGE} is {{{{ $value | humanizeDuration }}}} (threshold {{threshold}}s)"),
    "large_loss": _Spec(
        f"{gauge('graphwiz_trading_current_drawdown')} > {{threshold}}",
        "Large loss: drawdown {{ $value | humanizePercentage }}",
        "Current drawdown {{ $value | humanizePercentage }} of peak equity exceeds {threshold_percent}%"),
    "rate_limit": _Spec(
        f"{gauge('graphwiz_exchange_rate_limit_remaining')} < {{threshold}}",
        f"Rate limit nearly exhausted on {_EXCHANGE}",
        f"Only {{{{ $value }}}} requests left on {_EXCHANGE} (threshold {{threshold}})"),
    "neo4j_disconnect": _Spec(
        f"{gauge('graphwiz_health_status', check='neo4j_connectivity')} >= {HEALTH_UNHEALTHY}",
        "Neo4j disconnected", "The Neo4j connectivity check fails (status {{ $value }}: 2 unhealthy, 3 critical)"),
    "agent_failure": _Spec(
        f"{gauge('graphwiz_health_status', check='agent_health')} >= {HEALTH_DEGRADED}",
        "Agents failing", "The agent health check reports failing agents (status {{ $value }}: 1 degraded or worse)"),
    "risk_limit_breach": _Spec(
        f"{gauge('graphwiz_risk_leverage')} > {{threshold}}",
        '''Risk limit breach: leverage {{ $value | printf "%.2f" }}x''',
        '''Leverage {{ $value | printf "%.2f" }}x exceeds the {threshold}x limit'''),
    "disk_space": _Spec(
        f"{gauge('graphwiz_system_disk_usage_percent')} > {{threshold}}",
        f"Disk {{{{ $labels.mount }}}} on {_HOST} almost full",
        f"Disk {{{{ $labels.mount }}}} on {_HOST} at {_VALUE_1F}% (threshold {{threshold}}%)"),
    # Approximate: Prometheus judges the trader's own heartbeat time against its clock (the engine uses Redis's).
    "trader_down": _Spec(
        f"time() - {gauge('graphwiz_trader_heartbeat_timestamp_seconds')} > {{stale_seconds}}",
        "Trader {{ $labels.trader }} down",
        "Trader {{ $labels.trader }} stopped reporting {{ $value | humanizeDuration }} ago: alerts on its data are stale"),
    # Self-monitoring: the exporter's ages are on the Redis clock, like the rule engine's.
    "beat_down": _Spec(
        f"{gauge('graphwiz_beat_tick_age_seconds')} > {{threshold}}",
        "Beat is not scheduling",
        "No beat has ticked for {{ $value | humanizeDuration }} (threshold {threshold}s): health checks, periodic "
        "rule evaluations and the dead-man's switch pings stopped"),
    "notify_dead_letters": _Spec(
        f"{gauge('graphwiz_notify_dead_lettered_age_seconds')} < {{threshold}}",
        "Notifications are being dead-lettered",
        "A notification was dead-lettered {{ $value | humanizeDuration }} ago (window {threshold}s): a channel keeps "
        "failing; see `graphwiz-monitoring dlq list --kind notification`"),
    # (max > 0) drops a Redis without maxmemory: its percentage would be +Inf.
    "redis_memory_high": _Spec(
        f"100 * {gauge('graphwiz_redis_memory_used_bytes')} / ({gauge('graphwiz_redis_memory_max_bytes')} > 0) "
        "> {threshold}",
        f"Redis memory at {_VALUE_0F}% of maxmemory",
        f"Redis uses {_VALUE_1F}% of its maxmemory (threshold {{threshold}}%): with noeviction, writes fail once "
        "it is full"),
}


def prometheus_duration(seconds: float) -> str:
    """A Prometheus duration string: whole seconds as ``30s``, anything finer in milliseconds."""
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def _fill(text: str, threshold: float | None) -> str:
    if threshold is None:
        return text
    return text.replace("{threshold}", f"{threshold:g}").replace("{threshold_percent}", f"{threshold * 100:g}")


# Built-ins the meta group exports under the alert name Prometheus users already route on.
EXPORTED_AS_META = {"queue_unconsumed": "graphwiz_queue_unconsumed"}


def builtin_prometheus_rules(settings: Settings | None = None) -> list[dict[str, Any]]:
    """The enabled built-in rules as Prometheus alerting rules, thresholds and overrides applied."""
    missing = set(BUILTIN_RULES) - set(_SPECS) - set(EXPORTED_AS_META)
    if missing:
        raise DashboardError(f"built-in rule(s) {sorted(missing)} have no Prometheus expression")
    settings = settings or Settings()
    overrides = settings.alerts.rules
    stale_seconds = f"{settings.health_checks.trader_stale_seconds:g}"
    rules = []
    for name, spec in _SPECS.items():
        rule = builtin_rule(name, overrides.get(name))
        if not rule.enabled:
            continue
        threshold = rule.threshold
        entry: dict[str, Any] = {"alert": name,
                                 "expr": _fill(spec.expr, threshold).replace("{stale_seconds}", stale_seconds)}
        if rule.for_seconds:
            entry["for"] = prometheus_duration(rule.for_seconds)
        entry["labels"] = {"severity": AlertSeverity.parse(rule.severity).value, "rule": name}
        entry["annotations"] = {
            "summary": _fill(spec.summary, threshold),
            "description": _fill(spec.description, threshold),
            "channels": ",".join(AlertChannel.parse(c).value for c in rule.channels),
        }
        rules.append(entry)
    return rules


def _meta(alert: str, expr: str, for_seconds: float, severity: AlertSeverity, summary: str,
          description: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"alert": alert, "expr": expr}
    if for_seconds:
        entry["for"] = prometheus_duration(for_seconds)
    entry["labels"] = {"severity": severity.value, "rule": alert}
    entry["annotations"] = {"summary": summary, "description": description}
    return entry


def journal_fill_expr() -> str:
    """The trader client's journal use as a fraction of its bound (rule and dashboard)."""
    return f"{gauge('graphwiz_trader_journal_bytes')} / {gauge('graphwiz_trader_journal_max_bytes')}"


def meta_prometheus_rules(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Rules about the monitoring pipeline itself."""
    critical, warning = AlertSeverity.CRITICAL, AlertSeverity.WARNING
    # The built-in queue_unconsumed is exported here under its older name, with its overrides like any built-in.
    unconsumed = builtin_rule("queue_unconsumed", (settings or Settings()).alerts.rules.get("queue_unconsumed"))
    rules = [
        _meta("graphwiz_exporter_down", f'{gauge("up", job=SCRAPE_JOBS)} == 0', EXPORTER_DOWN_FOR_SECONDS, critical,
              "graphwiz exporter {{ $labels.instance }} is down",
              "Prometheus cannot scrape {{ $labels.instance }}: no graphwiz metrics, so no built-in rule can fire"),
        # No `for`: each refusal is a record the trader lost; the 5 m increase keeps it firing for 5 minutes.
        _meta("graphwiz_trader_records_refused", f"{increase('graphwiz_trader_records_refused_total')} > 0", 0, critical,
              "Monitoring is refusing the trader's records",
              '{{ $value | printf "%.0f" }} record_* call(s) raised BackpressureError in the last 5 minutes: the '
              "trader client's memory and journal are full because batches are not delivered (broker unreachable "
              "or ingest workers not keeping up). Refused records are not kept."),
        _meta("graphwiz_trader_journal_filling", f"{journal_fill_expr()} > {JOURNAL_FILLING_FRACTION:g}",
              JOURNAL_FILLING_FOR_SECONDS, warning, "Trader journal {{ $value | humanizePercentage }} full",
              "The trader client's journal holds {{ $value | humanizePercentage }} of trader.journal_max_bytes: "
              "batches are not being delivered. Once it and the memory buffer are full, record_* calls are refused."),
        _meta("graphwiz_notification_outbox_stuck",
              # Entries leave within milliseconds when the broker takes the tasks; the oldest entry's age
              # restarts at every sweep retry, so the count staying above zero is the signal.
              f"{gauge('graphwiz_notify_outbox_entries')} > 0",
              OUTBOX_STUCK_FOR_SECONDS, warning, "Notifications stuck in the outbox",
              "{{ $value }} notification(s) have waited in the outbox for over 2 minutes without reaching the "
              "notify queues: the broker refuses the enqueues, or the outbox sweep (beat, rules worker) is not "
              "running."),
        # Workers drain a healthy queue within seconds (bench/load.py: no backlog at 2,000 trades/s), and
        # tasks waiting for a retry or a rate-limit slot sit with a worker, not in the queue.
        _meta("graphwiz_queue_backlog", f"{gauge('graphwiz_celery_queue_length')} > 0",
              QUEUE_BACKLOG_FOR_SECONDS, warning, "Queue {{ $labels.queue }} has not emptied for 5 minutes",
              "{{ $value }} task(s) wait in {{ $labels.queue }}: no worker consumes it, or its workers cannot keep "
              "up (notify.*: notifications are not going out; ingest: trading metrics and alerts lag behind)."),
        # Consumers come from the workers' heartbeats: 0 means no live worker takes this queue at all, so
        # what waits there is never done (a missing -Q; `celery`: a trader's own plain Celery app sends there).
        # The built-in rule queue_unconsumed is this rule in the engine (exported here, under this name).
        _meta(EXPORTED_AS_META["queue_unconsumed"],
              f"{gauge('graphwiz_celery_queue_length')} > 0 and {gauge('graphwiz_celery_queue_consumers')} == 0",
              unconsumed.for_seconds, AlertSeverity.parse(unconsumed.severity), "No worker consumes queue {{ $labels.queue }}",
              "{{ $value }} task(s) wait in {{ $labels.queue }} and no live worker consumes it: they will never "
              "run. Start a worker with -Q {{ $labels.queue }} (`graphwiz-monitoring run` and docker-compose.yml "
              "consume every queue; `celery` is Celery's default queue, consumed with ingest)."),
        # The exporter reached, Redis not: `up` stays 1 and every other graphwiz series vanishes, so no
        # other rule can fire.
        _meta("graphwiz_exporter_redis_unreachable", f"{gauge('graphwiz_exporter_redis_up')} == 0",
              EXPORTER_REDIS_DOWN_FOR_SECONDS, critical, "The graphwiz exporter cannot reach Redis",
              "{{ $labels.instance }} answers scrapes but not Redis: every graphwiz series is missing, so no built-in "
              "rule can fire, and workers, beat and traders are likely cut off from Redis too."),
        # Alertmanager's Watchdog convention: always firing, routed to an outside dead-man's switch
        # (alertmanager.yml's "watchdog" receiver) that alerts when it stops arriving: then Prometheus,
        # its rule evaluation or Alertmanager is down.
        _meta(WATCHDOG_ALERT, "vector(1)", 0, AlertSeverity.INFO,
              "Watchdog: the alerting pipeline is alive",
              "Always firing, on purpose. Route it to an outside dead-man's switch (Healthchecks.io, Uptime Kuma "
              "push, ...) with a short repeat_interval: when it stops arriving, Prometheus or Alertmanager is down."),
    ]
    return [r for r in rules if unconsumed.enabled or r["alert"] != EXPORTED_AS_META["queue_unconsumed"]]


def prometheus_rule_file(settings: Settings | None = None) -> dict[str, Any]:
    """The whole rule file as data (``groups:``), ready for YAML."""
    return {"groups": [
        {"name": BUILTIN_GROUP, "rules": builtin_prometheus_rules(settings)},
        {"name": META_GROUP, "rules": meta_prometheus_rules(settings)},
    ]}
