"""The exporter's one custom Prometheus collector: reads Redis at scrape time, however many workers run.

No prometheus multiprocess files: every worker writes Redis, and this collector turns Redis into
families when Prometheus scrapes. Families come from providers, ``"module:function"`` paths imported on
first use (so this module imports no area eagerly); a provider is called as
``provider(store, keys, settings)`` and yields ``prometheus_client`` metric families.

To add an area's families, add ONE line to ``PROVIDERS``. A provider that fails does not break the
scrape: its families are missing, ``graphwiz_exporter_provider_errors{provider}`` counts it and
``graphwiz_exporter_redis_up`` says whether Redis answered. A family name already emitted by an
earlier provider is dropped (and logged) so the exposition never carries a duplicate.
"""

from __future__ import annotations

import functools
import importlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.exporter.exposition import new_family
from graphwiz_monitoring.exporter.families import queue_families
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import ALL_QUEUES

log = logging.getLogger(__name__)

Provider = Callable[[Store, KeySpace, Settings], Iterable[Metric]]

PROVIDERS: list[str] = [
    "graphwiz_monitoring.exporter.families:metrics_families",
    "graphwiz_monitoring.exporter.alert_families:alert_families",
    "graphwiz_monitoring.exporter.health_families:health_families",
]


def resolve(path: str) -> Provider:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


class GraphwizCollector(Collector):
    """Collects every provider's families plus queue lengths and the exporter's own health."""

    def __init__(self, store: Store, keys: KeySpace, settings: Settings, *,
                 providers: Sequence[str | Provider] | None = None, queues: Sequence[str] | None = None) -> None:
        self.store, self.keys, self.settings = store, keys, settings
        self._provider_specs = list(dict.fromkeys(PROVIDERS if providers is None else providers))
        self._resolved: dict[str, Provider] = {}
        self._queues = list(queues) if queues is not None else None
        self._errors: dict[str, int] = {}
        self.last_duration_seconds = 0.0

    def describe(self) -> Iterable[Metric]:
        return []  # names are dynamic; skip the registry's duplicate check (we de-duplicate ourselves)

    def _providers(self) -> Iterable[tuple[str, Provider]]:
        for spec in self._provider_specs:
            if callable(spec):
                yield getattr(spec, "__qualname__", repr(spec)), spec
                continue
            if spec not in self._resolved:
                self._resolved[spec] = resolve(spec)
            yield spec, self._resolved[spec]

    def _queue_names(self) -> list[str]:
        if self._queues is None:
            self._queues = list(ALL_QUEUES)
        return self._queues

    def collect(self) -> Iterable[Metric]:
        started = time.perf_counter()
        seen: set[str] = set()
        redis_up = 1

        def fresh(families: Iterable[Metric], origin: str) -> Iterable[Metric]:
            for family in families:
                if family.name in seen:
                    log.warning("family %s from %s already exported; dropped", family.name, origin)
                    continue
                seen.add(family.name)
                yield family

        sources: list[tuple[str, Callable[[], Iterable[Metric]]]] = [
            ("queues", lambda: queue_families(self.store, self._queue_names()))]
        try:
            for name, provider in self._providers():
                sources.append((name, functools.partial(provider, self.store, self.keys, self.settings)))
        except Exception:  # an area's module fails to import: keep exporting the rest
            log.exception("a metrics provider could not be loaded")
            self._errors["import"] = self._errors.get("import", 0) + 1
        for name, produce in sources:
            try:
                yield from fresh(produce(), name)
            except StateError as exc:  # Redis is down: every other provider would wait for it too
                redis_up = 0
                log.warning("scrape: %s: %s", name, exc)
                self._errors[name] = self._errors.get(name, 0) + 1
                break
            except Exception:
                log.exception("scrape: provider %s failed", name)
                self._errors[name] = self._errors.get(name, 0) + 1
        yield new_family("graphwiz_exporter_redis_up", redis_up)
        errors = new_family("graphwiz_exporter_provider_errors_total")
        for name, count in sorted(self._errors.items()):
            errors.add_metric([name], count)
        yield errors
        self.last_duration_seconds = time.perf_counter() - started


def collector_for(settings: Settings, store: Store | None = None, **kwargs: Any) -> GraphwizCollector:
    from graphwiz_monitoring.state import settings_store

    store = store or settings_store(settings.redis)
    return GraphwizCollector(store, KeySpace(settings.redis.namespace), settings, **kwargs)
