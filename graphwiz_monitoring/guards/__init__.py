"""Shared protections backed by Redis Lua scripts: the circuit breaker (one script, exactly one
half-open trial across processes), used by health checks and notification channels alike, and the
channels' cluster-wide rate limit (token bucket with reserved slots, 429 hold).

Run by: workers, the trader, the CLI. May import: config, state, events, errors.
"""
