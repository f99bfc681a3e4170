"""One metric catalogue: a scrape exposes exactly the families metrics/catalogue.py declares, typed and
described as declared, and the dashboards' PromQL checks against the same entries."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from graphwiz_monitoring.dashboards.promql import CATALOG
from graphwiz_monitoring.exporter.collector import GraphwizCollector
from graphwiz_monitoring.exporter.exposition import render
from graphwiz_monitoring.metrics.catalogue import CATALOGUE, MetricKind


def _exposed(store, keys, settings) -> dict[str, tuple[str, str]]:
    text = render(GraphwizCollector(store, keys, settings).collect()).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        # The parser names counters without _total; the catalogue names what a query writes.
        name = family.name + "_total" if family.type == "counter" else family.name
        out[name] = (family.type, family.documentation)
    return out


def test_a_scrape_exposes_exactly_the_catalogue(store, keys, settings) -> None:
    exposed = _exposed(store, keys, settings)  # an empty Redis: every family is still declared
    assert set(exposed) == set(CATALOGUE)
    for name, spec in CATALOGUE.items():
        assert exposed[name] == (spec.kind.value, spec.help), name


def test_dashboards_check_their_queries_against_the_same_entries() -> None:
    assert all(CATALOG[name] is spec for name, spec in CATALOGUE.items())
    assert {n for n, s in CATALOG.items() if n not in CATALOGUE} == {"up", "scrape_duration_seconds"}
    assert all(s.name.endswith("_total") == (s.kind is MetricKind.COUNTER) for s in CATALOGUE.values())
