"""Fixtures for the alert lifecycle against a real Redis."""

from __future__ import annotations

from typing import Any

import pytest

from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.alerting.outbox import started
from graphwiz_monitoring.config import parse_settings


class Recorder:
    """A dispatcher that records (alert_id, channel, kind) and what was stored when it was called."""

    def __init__(self, store, keys) -> None:
        self.store, self.keys = store, keys
        self.calls: list[tuple[str, str, str]] = []
        self.stored_first: list[bool] = []

    def __call__(self, alert_id: str, channel: str, kind: str) -> None:
        self.stored_first.append(self.store.r.exists(self.keys.alert(alert_id)) == 1)
        self.calls.append((alert_id, channel, kind))
        started(self.store, self.keys, alert_id, kind, channel)  # the task runs: the broker did not lose it

    def of(self, kind: str) -> list[tuple[str, str]]:
        return [(a, c) for a, c, k in self.calls if k == kind]


@pytest.fixture
def make_manager(redis_url: str, store, keys):
    """``make_manager(alerts={...}, notifications={...})`` -> (manager, recorder)."""

    def make(alerts: dict[str, Any] | None = None, notifications: dict[str, Any] | None = None,
             dispatch=None) -> tuple[AlertManager, Recorder]:
        settings = parse_settings({"redis": {"url": redis_url}, "alerts": alerts or {},
                                   "notifications": notifications or {}}, env={})
        recorder = Recorder(store, keys)
        return AlertManager(store, keys, settings, dispatch=dispatch or recorder), recorder

    return make
