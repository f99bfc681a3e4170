"""The Prometheus exporter: one custom collector that reads Redis at scrape time, its families per
area, the text exposition, and the HTTP server (``graphwiz-monitoring exporter``).

Run by: the exporter process (and ``run``), and a trader with ``monitoring.enable_prometheus: true``
(trader/servers.py). May import: config, state, metrics, alerting, health, guards, tasks, http_access,
errors. Nothing imports it but the CLI and trader/servers.py.
"""
