"""Evaluates ``alert_manager.custom_rules`` inside the process that registered them (the trader).

Python callables cannot travel to the workers, so the trader evaluates its own custom rules against
``get_metrics()`` snapshots every ``monitoring.rule_evaluation_interval_seconds``, through the same
shared lifecycle (cooldown, dedup, silences, notifications) as the workers' rules. One daemon thread,
started when the first custom rule is registered; a Redis outage is logged and retried next round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.errors import GraphwizError
from graphwiz_monitoring.trader.background import BackgroundLoop

log = logging.getLogger(__name__)


class CustomRuleLoop(BackgroundLoop):
    thread_name = "graphwiz-custom-rules"

    def __init__(self, manager: AlertManager, snapshot: Callable[[], Mapping[str, Any]], interval: float) -> None:
        super().__init__()
        self.manager, self.snapshot, self.interval = manager, snapshot, interval

    def ensure_started(self, *_: Any) -> None:
        self.start()

    def run_once(self) -> None:
        if self.manager.custom_rules:
            self.manager.evaluate_custom(self.snapshot())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except GraphwizError as exc:  # Redis briefly down: the next round tries again
                log.warning("custom alert rules not evaluated: %s", exc)
            except Exception:  # never let the trader's evaluator thread die silently
                log.exception("custom alert rules: evaluation failed")
            self._stop.wait(self.interval)

