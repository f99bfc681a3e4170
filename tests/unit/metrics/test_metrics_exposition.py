"""The fast text exposition renders exactly what prometheus_client's generate_latest renders."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from graphwiz_monitoring.exporter.exposition import render


def _families():
    gauge = GaugeMetricFamily("graphwiz_x", 'doc with "quotes", \\ and\nnewline', labels=["host", "mount"])
    for value in (0.0, -1.5, 1e6, 1234567.0, 1e21, 3.14159, math.inf, -math.inf, math.nan, 7):
        gauge.add_metric(["h\\1", f'm"{value}\n'], value)
    counter = CounterMetricFamily("graphwiz_c", "a counter", labels=["kind"], created=None)
    counter.add_metric(["trade"], 12)
    plain = CounterMetricFamily("graphwiz_plain", "no labels", value=3)
    hist = HistogramMetricFamily("graphwiz_h_seconds", "hist", labels=["exchange"])
    hist.add_metric(["binance"], [("0.005", 1), ("0.25", 3), ("+Inf", 4)], 1.25)
    return [gauge, counter, plain, hist, GaugeMetricFamily("graphwiz_empty", "no samples")]


class _Fixed:
    def collect(self):
        return _families()


def test_render_matches_generate_latest_byte_for_byte() -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed())
    assert render(_families()) == generate_latest(registry)


def test_render_parses_back() -> None:
    parsed = {f.name: f for f in text_string_to_metric_families(render(_families()).decode())}
    assert parsed["graphwiz_c"].samples[0].name == "graphwiz_c_total"
    assert parsed["graphwiz_c"].samples[0].value == 12
    buckets = [s for s in parsed["graphwiz_h_seconds"].samples if s.name.endswith("_bucket")]
    assert [s.labels["le"] for s in buckets] == ["0.005", "0.25", "+Inf"]
    labels = parsed["graphwiz_x"].samples[0].labels
    assert labels == {"host": "h\\1", "mount": 'm"0.0\n'}
