"""The Celery app's routing, reliability settings and beat schedule, read from the app's config."""

from __future__ import annotations

from graphwiz_monitoring.alerting.outbox import GRACE_SECONDS
from graphwiz_monitoring.celery import (
    MAX_RETRY_COUNTDOWN_SECONDS,
    app,
    build_beat_schedule,
    create_app,
    retry_countdown,
    route_task,
)
from graphwiz_monitoring.config import DEFAULT_CHECKS, parse_settings
from graphwiz_monitoring.tasks import ALL_QUEUES, CELERY_DEFAULT, INGEST


def test_reliability_settings():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] > MAX_RETRY_COUNTDOWN_SECONDS
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]


def test_retry_countdown_stays_below_visibility_timeout():
    settings = parse_settings({"redis": {"visibility_timeout_seconds": 30}}, env={})
    assert retry_countdown(3600, settings) == 15
    assert retry_countdown(3600, parse_settings({}, env={})) == MAX_RETRY_COUNTDOWN_SECONDS
    assert retry_countdown(2.5, settings) == 2.5


def test_all_queues_declared():
    declared = {q.name for q in app.conf.task_queues}
    assert declared == set(ALL_QUEUES)
    assert {"notify.discord", "notify.slack", "notify.email", "notify.telegram", "notify.webhook",
            "notify.log"} <= declared


def test_routes_by_module_and_channel():
    assert route_task("workers.ingest.ingest_batch", (), {}, {}) == {"queue": "ingest"}
    assert route_task("workers.metrics.collect_system_metrics", (), {}, {}) == {"queue": "metrics"}
    assert route_task("workers.rules.evaluate", (), {}, {}) == {"queue": "rules"}
    assert route_task("workers.rules.sweep_outbox", (), {}, {}) == {"queue": "rules"}
    assert route_task("workers.health.run_check", ("disk_space",), {}, {}) == {"queue": "health"}
    assert route_task("workers.recovery.run_recovery", (), {}, {}) == {"queue": "recovery"}
    assert route_task("workers.notify.deliver", ("a1", "Discord"), {}, {}) == {"queue": "notify.discord"}
    assert route_task("workers.notify.deliver", (), {"alert_id": "a1", "channel": "slack"}, {}) == {
        "queue": "notify.slack"}


def test_our_routing_never_uses_celerys_default_queue():
    """`celery` is declared for traders' plain Celery apps (ingest workers consume it); none of our tasks goes there."""
    assert CELERY_DEFAULT in {q.name for q in app.conf.task_queues}
    assert app.conf.task_default_queue != CELERY_DEFAULT
    app.loader.import_default_modules()  # the task modules, as a worker imports them
    ours = [name for name in app.tasks if name.startswith("workers.")]
    assert len(ours) >= 10
    for name in ours:
        assert route_task(name, ("a1", "log"), {}, {})["queue"] != CELERY_DEFAULT, name
    assert route_task("workers.ingest.record_trade", ({},), {}, {}) == {"queue": INGEST}
    assert route_task("workers.ingest.record_trades", ([],), {}, {}) == {"queue": INGEST}


def test_beat_schedule_from_config():
    settings = parse_settings({"monitoring": {"metrics_interval_seconds": 7},
                               "health_checks": {"checks": {"disk_space": {"interval_seconds": 120},
                                                            "agent_health": {"enabled": False}}}}, env={})
    schedule = build_beat_schedule(settings)
    assert schedule["metrics.collect_system"]["schedule"] == 7
    assert schedule["health.disk_space"]["schedule"] == 120
    assert schedule["health.disk_space"]["args"] == ("disk_space",)
    assert "health.agent_health" not in schedule
    assert schedule["rules.sweep_outbox"]["task"] == "workers.rules.sweep_outbox"
    assert schedule["rules.sweep_outbox"]["schedule"] < GRACE_SECONDS  # owed ones wait < grace + interval
    assert schedule["health.exchange_connectivity"]["schedule"] == DEFAULT_CHECKS["exchange_connectivity"][0]
    for name, entry in schedule.items():
        every, options = entry["schedule"], entry["options"]
        assert 0 < options["expires"] <= every, name
        assert options["soft_time_limit"] < options["time_limit"], name
        assert options["time_limit"] < every or every < 2.5, name


def test_create_app_uses_given_broker():
    settings = parse_settings({"redis": {"url": "redis://127.0.0.1:6390/2"}}, env={})
    assert create_app(settings).conf.broker_url == "redis://127.0.0.1:6390/2"


def test_beat_looks_for_a_due_digest_only_when_one_is_configured() -> None:
    assert "alerts.digest" not in build_beat_schedule(parse_settings({}, env={}))
    schedule = build_beat_schedule(parse_settings({"alerts": {"digest": {"cron": "0 8 * * *"}}}, env={}))
    entry = schedule["alerts.digest"]
    assert entry["task"] == "workers.rules.send_digest" and entry["schedule"] == 30.0
    assert route_task("workers.rules.send_digest", (), {}, {}) == {"queue": "rules"}
