"""Everything that runs inside the trading bot: ``TradingMonitor`` (``create_monitor``), the metrics
API facade, the shipper (buffer, batches, journal, in-flight tracking), trader-side rules, the health
reporter, the control listener that executes recovery commands, and the dependency calls.

Run by: the user's trading process. May import every library package (config, state, metrics, alerting,
health, tasks ...); it builds the process's one TaskSender from graphwiz_monitoring.celery on first
use. Nothing but the public API and the CLI imports it.
"""
