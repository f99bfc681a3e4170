"""Typed PromQL: the exporter's metric catalog and expression helpers that refuse wrong combinations.

Every dashboard panel and exported alert rule builds its expressions here, so a wrong metric type is
an error at build time instead of a silently wrong graph: ``rate()``/``increase()`` only over
counters (exposed with ``_total``) or a histogram's ``_bucket``/``_sum``/``_count`` series,
``histogram_quantile`` only over ``sum by (le, ...) (rate(<histogram>_bucket[w]))``, gauges plain.
Names, types and labels come from the one catalogue the exporter builds its families from
(metrics/catalogue.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from graphwiz_monitoring.errors import DashboardError
from graphwiz_monitoring.metrics.catalogue import CATALOGUE, HISTOGRAM_SERIES, MetricKind, MetricSpec

__all__ = ["CATALOG", "RATE_WINDOW", "Metric", "MetricKind", "Regex", "gauge", "increase", "mean", "metric",
           "quantile", "rate", "sum_"]

# Window for rate()/increase(): four scrapes at the default 15 s interval with room for one miss.
RATE_WINDOW = "5m"

Metric = MetricSpec


@dataclass(frozen=True)
class Regex:
    """A regular-expression label value (``label=~"..."``)."""

    pattern: str


# The exporter's catalogue, plus the series Prometheus itself writes for every scrape target.
CATALOG: dict[str, MetricSpec] = {
    **CATALOGUE,
    "up": MetricSpec("up", MetricKind.GAUGE, "1 when the scrape succeeded", ("job", "instance")),
    "scrape_duration_seconds": MetricSpec("scrape_duration_seconds", MetricKind.GAUGE, "Scrape duration",
                                          ("job", "instance")),
}


def metric(name: str) -> Metric:
    """The catalog entry for ``name``; raises DashboardError for a name the exporter does not expose."""
    try:
        return CATALOG[name]
    except KeyError:
        raise DashboardError(f"unknown metric {name!r}: not in the exporter's catalog") from None


def _selector(m: Metric, series: str, matchers: dict[str, str | Regex]) -> str:
    parts = []
    for label, value in matchers.items():
        if label not in m.labels:
            raise DashboardError(f"{m.name} has no label {label!r} (labels: {list(m.labels)})")
        # A Grafana variable may hold several values (or All = .*), so it is always a regex match.
        if isinstance(value, Regex) or value.startswith("$"):
            pattern = value.pattern if isinstance(value, Regex) else value
            parts.append(f'{label}=~"{pattern}"')
        else:
            parts.append(f'{label}="{value}"')
    return f"{series}{{{', '.join(parts)}}}" if parts else series


def gauge(name: str, **matchers: str | Regex) -> str:
    """A plain selector: a gauge's current value (or a counter's raw running total)."""
    m = metric(name)
    if m.kind is MetricKind.HISTOGRAM:
        raise DashboardError(f"{name} is a histogram: use quantile() or mean()")
    return _selector(m, m.name, matchers)


def _counter_series(name: str, suffix: str) -> tuple[Metric, str]:
    m = metric(name)
    if m.kind is MetricKind.COUNTER and not suffix:
        return m, m.name
    if m.kind is MetricKind.HISTOGRAM and suffix in HISTOGRAM_SERIES:
        return m, m.name + suffix
    raise DashboardError(f"rate()/increase() need a counter or a histogram series; {name}{suffix} is a {m.kind.value}")


def rate(name: str, window: str = RATE_WINDOW, suffix: str = "", **matchers: str | Regex) -> str:
    """Per-second rate of a counter (or of a histogram's ``_bucket``/``_sum``/``_count`` with ``suffix``)."""
    m, series = _counter_series(name, suffix)
    return f"rate({_selector(m, series, matchers)}[{window}])"


def increase(name: str, window: str = RATE_WINDOW, suffix: str = "", **matchers: str | Regex) -> str:
    """How much a counter grew over ``window``."""
    m, series = _counter_series(name, suffix)
    return f"increase({_selector(m, series, matchers)}[{window}])"


def _by(labels: Iterable[str]) -> str:
    labels = list(labels)
    return f" by ({', '.join(labels)})" if labels else ""


def sum_(expr: str, by: Iterable[str] = ()) -> str:
    return f"sum{_by(by)} ({expr})"


def quantile(q: float, name: str, by: Iterable[str] = (), window: str = RATE_WINDOW, **matchers: str | Regex) -> str:
    """``q``-quantile of a histogram, aggregated over everything but ``by``."""
    m = metric(name)
    if m.kind is not MetricKind.HISTOGRAM:
        raise DashboardError(f"histogram_quantile needs a histogram; {name} is a {m.kind.value}")
    if not 0 < q < 1:
        raise DashboardError(f"quantile must be in (0, 1), got {q}")
    buckets = sum_(rate(name, window, "_bucket", **matchers), ("le", *by))
    return f"histogram_quantile({q:g}, {buckets})"


def mean(name: str, by: Iterable[str] = (), window: str = RATE_WINDOW, **matchers: str | Regex) -> str:
    """Mean observation of a histogram over ``window`` (rate of the sum over rate of the count)."""
    by = tuple(by)
    return (f"{sum_(rate(name, window, '_sum', **matchers), by)} / "
            f"{sum_(rate(name, window, '_count', **matchers), by)}")
