"""Health: the 8 checks and their probes, the checker (breakers, transitions, recovery hand-off),
recovery decisions (RecoveryRunner) and the command protocol to the trader, the trading-paused flag.

Run by: health and recovery workers, the trader (its checker), the CLI. May import: config, state,
events, guards, alerting, metrics, tasks, errors, vocabulary. Not trader/: the trader's report is read
through health/trader_report.py, which the trader's reporter writes.
"""
