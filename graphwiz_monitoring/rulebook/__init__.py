"""The rule language: ``AlertRule``, safe expressions (never eval'd), message templates, the built-in
rule catalogue. Pure (no Redis, no I/O): run by every process that validates settings or evaluates rules.

May import: errors, vocabulary, and config only for type checking. Imported by config (validation),
alerting (evaluation) and dashboards (exported Prometheus rules).
"""
