"""Metrics: records (models), the columnar codec, worker-side ingestion (prepare + ingest.lua), the
snapshot everyone reads, the trading/risk math (pure), history, retention and host samples.

Run by: ingest and metrics workers, the trader (models, codec, snapshot reads), the exporter.
May import: config, state, events, context, errors.
"""

