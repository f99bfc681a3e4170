"""Alerting: the alert lifecycle in Redis (manager), silences and inhibition, the outbox and the
notification handoff, the fast rule path, and the six channels with delivery (retries, rate limits,
dead letters).

Run by: rule and notify workers, the trader (trader-side rules, manual alerts), the CLI.
May import: config, state, events, guards, rulebook, tasks (names and the TaskSender protocol), errors,
vocabulary. Never celery, health, metrics, trader or the process packages.
"""
