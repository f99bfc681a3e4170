"""Metrics: records (models), the trader-side client, worker-side ingestion, the math, the exporter.

Trader side: models -> codec (fast path) -> client (buffer, batches, journal). Worker side: ingest ->
prepare -> state/scripts/ingest.lua. Reading: snapshot (the contract everyone reads), calculations
(pure math), families + collector + exposition + exporter (Prometheus), history, retention, system.
"""
