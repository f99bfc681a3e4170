"""Everything that runs inside the trading bot: ``TradingMonitor`` (``create_monitor``), the metrics
API facade, the shipper (buffer, batches, journal, in-flight tracking), trader-side rules, the health
reporter, the control listener that executes recovery commands, the dependency calls, and the servers the
description's ``enable_prometheus`` / ``enable_realtime`` ask of the trader (servers.py).

Run by: the user's trading process. May import every library package (config, state, metrics, alerting,
health, tasks ...) and, inside servers.py's threads, the exporter and realtime packages; it builds the process's one TaskSender from graphwiz_monitoring.celery on first
use. Nothing but the public API and the CLI imports it.
"""
