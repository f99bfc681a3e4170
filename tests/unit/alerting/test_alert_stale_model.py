"""Stale data is not a fact (issue 13 item 3): the pure parts. A trader's freshness in the snapshot is
judged on the Redis clock (``received_at``), not the trader's; which rules read trader-fed data; the
``stale`` notification kind and how channels mark it."""

from __future__ import annotations

from graphwiz_monitoring.alerting.channels.render import STALE_MARK, View
from graphwiz_monitoring.alerting.manager import data_stale, reads_trader_data
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity
from graphwiz_monitoring.alerting.rules import AlertRule, builtin_rule
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.metrics.snapshot import RawState, compute_snapshot
from graphwiz_monitoring.vocabulary import NOTIFICATION_KINDS, NotificationKind, kind_base


def _raw(redis_now: float, received_at: float | None, last_seen: float) -> RawState:
    raw = RawState(now=redis_now + 3600, redis_now=redis_now)  # this host's clock is an hour off
    heartbeat = {"last_seen": str(last_seen), "host": "h", "pid": "1"}
    if received_at is not None:
        heartbeat["received_at"] = str(received_at)
    raw.traders["alpha"] = {"portfolio": {}, "agg": {}, "heartbeat": heartbeat, "exchanges": {"kraken": "0"}}
    return raw


def test_trader_freshness_is_judged_on_the_redis_clock() -> None:
    settings = parse_settings({"health_checks": {"trader_stale_seconds": 2}}, env={})
    # the trader's own clock says "just now" (last_seen), Redis received its last batch 5 s ago: stale
    alpha = compute_snapshot(_raw(1000.0, 995.0, last_seen=1000.0 + 3600), settings)["traders"]["alpha"]
    assert alpha["age_seconds"] == 5.0 and alpha["stale"] is True
    alpha = compute_snapshot(_raw(1000.0, 999.5, last_seen=0.0), settings)["traders"]["alpha"]
    assert alpha["age_seconds"] == 0.5 and alpha["stale"] is False


def test_data_is_stale_only_when_every_trader_that_reported_is() -> None:
    assert not data_stale({}) and not data_stale({"traders": {}})
    assert data_stale({"traders": {"a": {"stale": True}, "b": {"stale": True}}})
    assert not data_stale({"traders": {"a": {"stale": True}, "b": {"stale": False}}})
    assert not data_stale({"traders": {"a": {"stale": None}}})  # unknown age is not stale


def test_rules_reading_trader_data() -> None:
    assert reads_trader_data(builtin_rule("exchange_disconnect"))
    assert reads_trader_data(builtin_rule("large_loss"))
    assert not reads_trader_data(builtin_rule("high_cpu"))  # hosts report those
    assert not reads_trader_data(builtin_rule("trader_down"))  # about the traders themselves
    assert not reads_trader_data(AlertRule(name="opaque", condition=lambda m: True))  # sections unknown


def test_the_stale_kind_and_its_mark() -> None:
    assert kind_base("stale") is NotificationKind.STALE and "stale" in NOTIFICATION_KINDS
    assert kind_base("stale-2") is None
    alert = Alert(rule_name="exchange_disconnect", title="Exchange kraken disconnected", message="m",
                  severity=AlertSeverity.CRITICAL)
    view = View(alert, "stale")
    assert view.stale and not view.resolved
    assert view.headline == f"{STALE_MARK} Exchange kraken disconnected"
    assert view.subject == f"{STALE_MARK} [CRITICAL] Exchange kraken disconnected"
