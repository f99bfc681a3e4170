"""Evaluates ``alert_manager.custom_rules`` inside the process that registered them (the trader).

Python callables cannot travel to the workers, so the trader evaluates its own custom rules against
``get_metrics()`` snapshots every ``monitoring.rule_evaluation_interval_seconds``, through the same
shared lifecycle (cooldown, dedup, silences, notifications) as the workers' rules. One daemon thread,
started when the first custom rule is registered; a Redis outage is logged and retried next round.
When the trader stops, nobody judges these rules any more: their open episodes end as ``stale``
(docs/ALERTS.md), one notice each, instead of staying active on the trader's last values.
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

    def __init__(self, manager: AlertManager, snapshot: Callable[[], Mapping[str, Any]], interval: float,
                 identity: str | None = None) -> None:
        """``identity``: this trader's (``trader.name``, else its host); its rule names are registered under
        it, so the workers end their episodes as stale should the trader die without ``stop()``."""
        super().__init__()
        self.manager, self.snapshot, self.interval, self.identity = manager, snapshot, interval, identity

    def ensure_started(self, *_: Any) -> None:
        self.start()

    def stop(self, timeout: float = 5.0) -> None:
        running = self._thread is not None
        super().stop(timeout)
        if not running:
            return
        try:
            ended = self.manager.end_stale(list(self.manager.custom_rules))
        except GraphwizError as exc:  # Redis down as the trader stops: the episodes stay open
            log.warning("custom alert rules: episodes not ended as stale: %s", exc)
            return
        for alert in ended:
            log.info("custom rule %s: alert %s ended as stale (this trader stops)", alert.rule_name, alert.alert_id)

    def run_once(self) -> None:
        if self.manager.custom_rules:
            self.manager.evaluate_custom(self.snapshot())
            if self.identity is not None:
                self.manager.register_custom_rules(self.identity)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except GraphwizError as exc:  # Redis briefly down: the next round tries again
                log.warning("custom alert rules not evaluated: %s", exc)
            except Exception:  # never let the trader's evaluator thread die silently
                log.exception("custom alert rules: evaluation failed")
            self._stop.wait(self.interval)

