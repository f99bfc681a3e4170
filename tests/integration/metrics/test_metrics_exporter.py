"""The exporter over HTTP against a real Redis: names, counters, histograms, /healthz, CLI lifecycle."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import requests
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from graphwiz_monitoring.exporter.collector import GraphwizCollector
from graphwiz_monitoring.exporter.server import ExporterServer
from graphwiz_monitoring.metrics import ingest
from tests.conftest import ROOT, free_port, wait_until, write_config

NOW = time.time()


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    names = []
    for family in text_string_to_metric_families(text):
        names.append(family.name)
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert len(names) == len(set(names)), "duplicate families in the exposition"
    return out


def _feed(store, keys, settings) -> None:
    trade = {"symbol": "BTC/USDT", "side": "buy", "price": 10.0, "quantity": 1.0, "exchange": "binance"}
    records = [{"kind": "trade", "data": {**trade, "pnl": 5.0, "execution_time": 0.03}},
               {"kind": "trade", "data": {**trade, "pnl": -2.0, "success": False, "execution_time": 3.0}},
               {"kind": "latency", "data": {"exchange": "binance", "seconds": 0.2}},
               {"kind": "exchange_status", "data": {"exchange": "binance", "connected": True,
                                                    "rate_limit_remaining": 77}},
               {"kind": "prediction", "data": {"agent": "momentum_agent", "prediction": 1, "confidence": 0.9,
                                               "actual_outcome": 1}},
               {"kind": "portfolio", "data": {"value": 1000.0, "cash": 400.0,
                                              "positions": [{"symbol": "BTC/USDT", "quantity": 1, "value": 600.0}]}},
               {"kind": "system", "data": {"host": "h1", "cpu_percent": 12.0, "memory_percent": 30.0,
                                           "memory_used_bytes": 1e9, "memory_available_bytes": 2e9, "load1": 0.5,
                                           "disks": {"/": 40.0}, "network": {"eth0": {"sent": 10, "recv": 20}}}},
               {"kind": "heartbeat", "data": {"host": "h1", "pid": 1, "timestamp": NOW}},
               {"kind": "trade", "data": {"symbol": "BAD", "side": "hold", "price": 1, "quantity": 1}}]
    ingest.ingest_batch(store, keys, settings, {"batch_id": "b1", "records": records})


def test_metrics_names_values_and_types(store, keys, settings) -> None:
    _feed(store, keys, settings)
    store.r.lpush("ingest", "waiting-1", "waiting-2")  # kombu keeps a queue as a list named after it
    exporter = ExporterServer(settings, host="127.0.0.1", port=0).start()
    try:
        response = requests.get(exporter.url + "/metrics", timeout=10)
    finally:
        exporter.stop()
    assert response.status_code == 200
    s = _samples(response.text)
    assert s[("graphwiz_trading_total_trades_total", ())] == 2
    assert s[("graphwiz_trading_successful_trades_total", ())] == 1
    assert s[("graphwiz_trading_failed_trades_total", ())] == 1
    assert s[("graphwiz_trading_pnl_usd", ())] == 3.0
    assert s[("graphwiz_trading_win_ratio", ())] == 0.5
    assert s[("graphwiz_trading_execution_seconds_bucket", (("le", "0.05"),))] == 1
    assert s[("graphwiz_trading_execution_seconds_bucket", (("le", "+Inf"),))] == 2
    assert s[("graphwiz_trading_execution_seconds_sum", ())] == 3.03
    ex = (("exchange", "binance"),)
    assert s[("graphwiz_exchange_latency_seconds_bucket", (("exchange", "binance"), ("le", "0.25")))] == 1
    assert s[("graphwiz_exchange_latency_seconds_count", ex)] == 1
    assert s[("graphwiz_exchange_connected", ex)] == 1 and s[("graphwiz_exchange_rate_limit_remaining", ex)] == 77
    assert s[("graphwiz_exchange_fill_ratio", ex)] == 0.5
    assert s[("graphwiz_agent_accuracy", (("agent", "momentum_agent"),))] == 1.0
    assert s[("graphwiz_agent_predictions_total", (("agent", "momentum_agent"),))] == 1
    assert s[("graphwiz_risk_leverage", ())] == 0.6 and s[("graphwiz_risk_positions", ())] == 1
    assert s[("graphwiz_portfolio_value_usd", ())] == 1000 and s[("graphwiz_portfolio_cash_usd", ())] == 400
    host = (("host", "h1"),)
    assert s[("graphwiz_system_cpu_usage_percent", host)] == 12.0
    assert s[("graphwiz_system_memory_usage_bytes", host)] == 1e9
    assert s[("graphwiz_system_disk_usage_percent", (("host", "h1"), ("mount", "/")))] == 40.0
    assert s[("graphwiz_system_network_sent_bytes_total", (("host", "h1"), ("interface", "eth0")))] == 10
    assert s[("graphwiz_trader_last_seen_timestamp_seconds", ())] == NOW
    assert s[("graphwiz_celery_queue_length", (("queue", "ingest"),))] == 2
    assert s[("graphwiz_celery_queue_length", (("queue", "notify.discord"),))] == 0
    assert s[("graphwiz_ingest_records_total", (("kind", "trade"),))] == 2
    assert s[("graphwiz_ingest_rejected_total", (("kind", "trade"),))] == 1
    assert s[("graphwiz_exporter_redis_up", ())] == 1
    assert ("graphwiz_risk_var_95_usd", ()) not in s  # unknown (too few samples): no sample, not 0


def _scrape(settings) -> tuple[dict[tuple[str, tuple], float], dict[str, str]]:
    """(samples, family name -> type) of one /metrics scrape."""
    exporter = ExporterServer(settings, host="127.0.0.1", port=0).start()
    try:
        text = requests.get(exporter.url + "/metrics", timeout=10).text
    finally:
        exporter.stop()
    return _samples(text), {f.name: f.type for f in text_string_to_metric_families(text)}


CLIENT_SERIES = {  # exposed name -> (ClientStats field, type)
    "graphwiz_trader_journal_bytes": ("journal_bytes", "gauge"),
    "graphwiz_trader_journal_max_bytes": ("journal_max_bytes", "gauge"),
    "graphwiz_trader_pending_records": ("pending_records", "gauge"),
    "graphwiz_trader_records_refused_total": ("refused", "counter"),
    "graphwiz_trader_batches_resent_total": ("resent_batches", "counter"),
    "graphwiz_trader_send_failures_total": ("send_failures", "counter"),
}


def _heartbeat(store, keys, settings, batch_id: str, timestamp: float, info: dict | None = None,
               **client: int) -> None:
    record = {"kind": "heartbeat", "data": {"host": "trader-1", "pid": 42, "timestamp": timestamp, "client": client,
                                            "info": info or {}}}
    result = ingest.ingest_batch(store, keys, settings, {"batch_id": batch_id, "records": [record]})
    assert result.accepted == {"heartbeat": 1} and not result.rejected


def test_trader_client_stats_from_the_heartbeat_and_the_outbox(store, keys, settings) -> None:
    samples, _ = _scrape(settings)
    assert not any((n, ()) in samples for n in CLIENT_SERIES)  # no client reported: no sample, not 0
    assert samples[("graphwiz_notify_outbox_entries", ())] == 0
    assert samples[("graphwiz_notify_outbox_oldest_age_seconds", ())] == 0

    stats = {"journal_bytes": 2048, "journal_max_bytes": 1024**3, "refused": 3, "resent_batches": 2,
             "send_failures": 5, "pending_records": 17}
    _heartbeat(store, keys, settings, "hb-1", NOW, **stats)
    # The trader's status reporter writes last_seen straight to Redis, ahead of the ingested heartbeats:
    # a later heartbeat still updates the client stats, an earlier one (from a journal) does not.
    store.r.hset(keys.trader_heartbeat, "last_seen", repr(NOW + 100))
    stats.update(journal_bytes=4096, refused=4)
    _heartbeat(store, keys, settings, "hb-2", NOW + 1, info={"strategy": "new"}, **stats)
    _heartbeat(store, keys, settings, "hb-old", NOW - 10, info={"strategy": "old"},
               **{**stats, "refused": 0, "journal_bytes": 1})
    assert store.r.hget(keys.trader_heartbeat, "info:strategy") == "new"  # info fields: the same clock

    seconds, micros = store.r.time()  # outbox scores are Redis time
    redis_now = seconds + micros / 1e6
    store.r.zadd(keys.notify_outbox, {"a1|firing": redis_now - 200, "a2|resolved": redis_now - 50})
    samples, types = _scrape(settings)
    for name, (field, kind) in CLIENT_SERIES.items():
        assert samples[(name, ())] == stats[field], name
        assert types[name.removesuffix("_total")] == kind, name
    assert samples[("graphwiz_notify_outbox_entries", ())] == 2
    assert 200 <= samples[("graphwiz_notify_outbox_oldest_age_seconds", ())] < 230
    assert types["graphwiz_notify_outbox_entries"] == types["graphwiz_notify_outbox_oldest_age_seconds"] == "gauge"


def test_broken_and_duplicate_providers_do_not_break_the_scrape(store, keys, settings) -> None:
    def duplicate(store, keys, settings):
        yield GaugeMetricFamily("graphwiz_trading_pnl_usd", "dup", value=123)

    def broken(store, keys, settings):
        raise RuntimeError("bug in an area")

    collector = GraphwizCollector(store, keys, settings, queues=["ingest"],
                                  providers=["graphwiz_monitoring.exporter.families:metrics_families", duplicate,
                                             broken])
    families = {f.name: f for f in collector.collect()}
    assert families["graphwiz_trading_pnl_usd"].samples[0].value == 0.0  # the first provider's family wins
    errors = {s.labels["provider"]: s.value for s in families["graphwiz_exporter_provider_errors"].samples}
    assert list(errors.values()) == [1]


def test_healthz_follows_redis_and_metrics_survive_an_outage(redis_server, settings) -> None:
    exporter = ExporterServer(settings, host="127.0.0.1", port=0).start()
    try:
        assert requests.get(exporter.url + "/healthz", timeout=5).status_code == 200
        redis_server.stop()
        assert requests.get(exporter.url + "/healthz", timeout=10).status_code == 503
        response = requests.get(exporter.url + "/metrics", timeout=10)
        assert response.status_code == 200
        assert _samples(response.text)[("graphwiz_exporter_redis_up", ())] == 0
        assert requests.get(exporter.url + "/nope", timeout=5).status_code == 404
    finally:
        exporter.stop()
        redis_server.start()


def test_cli_exporter_runs_in_the_foreground_until_sigterm(tmp_path, redis_url) -> None:
    port = free_port()
    config = write_config(tmp_path / "monitoring.yaml", redis_url)
    proc = subprocess.Popen([sys.executable, "-m", "graphwiz_monitoring.cli", "--config", str(config), "exporter",
                             "--host", "127.0.0.1", "--port", str(port)], cwd=str(ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def healthy() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, timeout=30, message="exporter /healthz")
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert "graphwiz_trading_total_trades_total 0.0" in text
        assert "graphwiz_alert_active" in text or "graphwiz_dead_letters" in text  # other areas' providers
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert b"exporter: stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
