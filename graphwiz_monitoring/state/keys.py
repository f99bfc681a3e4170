"""KeySpace: the ONLY place Redis key strings are built.

Every key is ``{ns}:{concept}:{id}[:{facet}]`` under a configurable namespace (default ``graphwiz``).
Keep this docstring's table in step with the methods below.

| key                                   | type   | TTL / bound                                        |
|---------------------------------------|--------|----------------------------------------------------|
| {ns}:trades                           | stream | XADD MAXLEN ~ retention.trades_max_count           |
| {ns}:trades:ids                       | zset   | trade id -> ingest time; trimmed by age            |
| {ns}:batches:seen                     | zset   | batch id -> ingest time; trimmed by age            |
| {ns}:trading:agg                      | hash   | running aggregates (counts, P&L, equity, drawdown) |
| {ns}:trading:pnl_daily                | hash   | UTC day -> realized P&L; old days trimmed          |
| {ns}:trading:pnls                     | list   | last trade P&Ls (VaR), LTRIM retention.trade_pnl_samples |
| {ns}:exchange:{name}:latency          | list   | latency samples (s), LTRIM to retention            |
| {ns}:exchange:{name}:stats            | hash   | connected, rate_limit_remaining, fills, errors, latency histogram |
| {ns}:exchange:{name}:window           | hash   | per-minute order/call counts; old minutes trimmed  |
| {ns}:exchanges                        | set    | known exchange names                               |
| {ns}:agent:{name}:stats               | hash   | predictions, correct, scored, confidence_sum       |
| {ns}:agent:{name}:predictions         | list   | recent predictions, LTRIM                          |
| {ns}:agent:{name}:failures            | zset   | failed prediction id -> time; trimmed by age       |
| {ns}:agents                           | set    | known agent names                                  |
| {ns}:portfolio:latest                 | hash   | sum over the traders' latest portfolios (+ last JSON) |
| {ns}:portfolio:snapshots              | zset   | JSON snapshot scored by time; trimmed by age       |
| {ns}:host:{host}:system               | hash   | last system metrics of a host; TTL 10 min          |
| {ns}:hosts                            | zset   | host -> last report time; stale hosts trimmed      |
| {ns}:ingest:stats                     | hash   | records/rejected/duplicates per kind (bounded)     |
| {ns}:dead_letters                     | list   | rejected payloads / undeliverable notifications    |
| {ns}:events                           | pubsub | channel for realtime events                        |
| {ns}:traders                          | set    | known trader identities; at most retention.max_traders; one silent for retention.trader_forget_seconds is forgotten (its keys too) |
| {ns}:trader:{name}:portfolio          | hash   | that trader's latest portfolio (its share of portfolio:latest) |
| {ns}:trader:{name}:agg                | hash   | that trader's trade counts, volume and P&L          |
| {ns}:trader:{name}:heartbeat          | hash   | that trader's last heartbeat (time, host, pid, client stats JSON; received_at = Redis time of its last batch) |
| {ns}:trader:{name}:rules              | set    | names of the custom_rules that trader evaluates itself (ended as stale when it is); TTL 7 d |
| {ns}:trader:{name}:exchanges          | hash   | exchange -> 1/0 connected as that trader last reported, exchange:ts -> when |
| {ns}:trader:heartbeat                 | hash   | last trader report (time, pid, host, deps status, client stats JSON; received_at = Redis time it arrived) |
| {ns}:trading:paused                   | hash   | persistent trading-paused flag (no TTL)            |
| {ns}:alert:{id}                       | string | Alert JSON; TTL alerts.history_retention_hours     |
| {ns}:alerts:active                    | hash   | "rule|fp" -> alert id of firing alerts; HDEL on resolve |
| {ns}:alerts:tracked                   | set    | "rule|fp" with lifecycle state; SREM when cleared  |
| {ns}:alert_state:{rule}:{fp}          | hash   | episode: pending_since, alert_id, cleared_at, next_repeat_at, repeats, noticed, notices, suppressed_until, sev, ack_id, ack_until, esc_*; TTL |
| {ns}:alert_ack:{id}                   | hash   | ack in force: by, at, comment, until; expires with the ack (acks.py) |
| {ns}:alerts:escalation                | zset   | "rule|fp" -> Redis time its next escalation step is due (escalation.py) |
| {ns}:alerts:history                   | zset   | alert id -> created time; trimmed by age and count |
| {ns}:alerts:counts                    | hash   | "rule|severity" -> alerts created (bounded by rules) |
| {ns}:notifications:counts             | hash   | "channel|outcome" -> notifications (bounded)       |
| {ns}:notifications:undeliverable      | hash   | channel -> notifications the deployment cannot deliver there (bounded by channels) |
| {ns}:alerting:published               | string | the workers' non-secret alerting config (YAML rules, overrides) JSON; rewritten each evaluation, EX 7 d |
| {ns}:delivery:{alert}:{channel}:{kind}| hash   | idempotency record: state, lease, failures; TTL    |
| {ns}:notify:{channel}:bucket          | hash   | token bucket (tokens, ts); PEXPIRE time-to-full    |
| {ns}:notify:{channel}:hold            | string | channel paused after a 429 Retry-After; PX        |
| {ns}:notify:floor:{alert}:{channel}   | string | kind last let through to the channel; PX its min_repeat_seconds |
| {ns}:notify:outbox                    | zset   | "alert_id|kind" -> Redis time; ZREM once enqueued |
| {ns}:notify:handed                    | zset   | "alert_id|kind|channel" -> Redis time; ZREM when its task starts (sweep drops expired alerts') |
| {ns}:notify:group:{group}             | hash   | storm group's open window: id (start ms), until, lead; PX alerts.group_interval_seconds |
| {ns}:notify:group:{group}:held        | zset   | "alert_id|kind" held for the window's grouped message -> window id; EXPIRE alert retention |
| {ns}:notify:groups:due                | zset   | "group|window" -> Redis time its grouped message is due (re-scored while claimed); ZREM once handed; EXPIRE alert retention |
| {ns}:notify:grouped:{message}         | list   | one grouped message's "alert_id|kind" members (message id grp-{group}-{window}); TTL alert retention |
| {ns}:notify:grouped:{message}:to     | hash   | destination -> the members its grouped message lists; TTL alert retention |
| {ns}:silence:{id}                     | string | Silence JSON (times on the Redis clock); PXAT its end: only expiry removes it (or `silence remove`) |
| {ns}:silences:ends                    | zset   | silence id -> ends_at; ended ids dropped on add (≤ 1000 live); PXAT the last end |
| {ns}:silences                         | hash   | legacy (before the Redis-clock silences): moved to the keys above on first read |
| {ns}:rules:fast:pending               | string | one queued fast evaluation; PX safety TTL          |
| {ns}:rules:fast:throttle              | string | spaces fast evaluations; PX min interval           |
| {ns}:beat:                            | prefix | celery-redbeat's key prefix (no key itself): the rows below |
| {ns}:beat:{entry}                     | hash   | celery-redbeat: a beat entry's definition and last run (one per schedule entry) |
| {ns}:beat::schedule                   | zset   | celery-redbeat: entry key -> when it is next due   |
| {ns}:beat::statics                    | set    | celery-redbeat: names of the configured entries (removed ones are deleted at start) |
| {ns}:beat:lock                        | string | the active beat's lock (celery-redbeat); PX beat.failover_seconds x 0.6, renewed every tick |
| {ns}:monitoring:stamps                | hash   | fact -> Redis time it last happened (beat tick, rules evaluated, heartbeat pinged, notification dead-lettered), beat_holder; one field each |
| {ns}:breaker:{name}                   | hash   | breaker state/failures/trial lease; TTL 7 d, refreshed |
| {ns}:breakers                         | set    | breaker names (bounded: checks + channels)         |
| {ns}:health:latest                    | hash   | check -> latest HealthResult JSON (one per check)  |
| {ns}:health:{check}:history           | list   | recent HealthResult JSON, LTRIM to 100             |
| {ns}:health:recovery                  | hash   | check -> outcome JSON of its last recovery run     |
| {ns}:control:commands                 | stream | recovery commands to the traders (one consumer group per trader identity); MAXLEN ~ 1000 |
| {ns}:control:claims:{cmd}             | hash   | trader identity -> claim of a command id (dedup); TTL 1 d |
| {ns}:control:results:{cmd}            | hash   | trader identity -> outcome JSON it acknowledged; TTL 1 d |
| {ns}:control:ack:{cmd}                | list   | wakes the waiting sender (one push per answer); TTL 10 min |
| {ns}:control:traders                  | zset   | trader identity -> Redis time its control listener last polled; trimmed after 7 d |
| {ns}:control:trader:{identity}        | hash   | that listener's token, pid, host, seen, conflict_at (two processes, one name); TTL 7 d |
| {ns}:recovery:history                 | list   | recovery attempts JSON, newest first, LTRIM 1000   |
| {ns}:digest:sent:{due}                | string | claim of the digest due at epoch {due}; TTL 7 days |
| {ns}:recovery:counts                  | hash   | "action|outcome" -> attempts (bounded)             |
| {ns}:recovery:recorded:{attempt}      | string | attempt already recorded (redelivery); TTL 1 d     |
| {ns}:recovery:{check}:lock            | string | one recovery per check at a time; TTL              |
| {ns}:recovery:close_positions:window  | string | close_positions at most once per window; TTL       |

Broker-level keys (celery/liveness.py), beside kombu's own ``unacked`` / ``unacked_index``. Like the
Celery queues they are one per Redis database, not per namespace: a worker must see every consumer
that may hold a message of its queues (two deployments on one Redis need two database numbers).

| key                                   | type   | TTL / bound                                        |
|---------------------------------------|--------|----------------------------------------------------|
| unacked_owner                         | hash   | delivery tag -> consumer id; HDEL with kombu's unacked entry |
| graphwiz:consumer:alive:{consumer}    | string | a live consumer process; EX 15 s, refreshed every 5 s |
| graphwiz:queue:consumers:{queue}      | zset   | consumer id -> Redis time its entry lapses (now + 15 s, refreshed every 5 s, ZREM on shutdown); EX 15 s |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeySpace:
    namespace: str = "graphwiz"

    # ----------------------------------------------------------- broker level (not namespaced, see above)
    UNACKED_OWNER = "unacked_owner"
    CONSUMER_ALIVE_PREFIX = "graphwiz:consumer:alive:"

    QUEUE_CONSUMERS_PREFIX = "graphwiz:queue:consumers:"

    @staticmethod
    def consumer_alive(consumer: str) -> str:
        return KeySpace.CONSUMER_ALIVE_PREFIX + consumer

    @staticmethod
    def queue_consumers(queue: str) -> str:
        """The live consumer processes of a Celery queue (celery/liveness.py writes, the exporter counts)."""
        return KeySpace.QUEUE_CONSUMERS_PREFIX + queue

    def _k(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    # ----------------------------------------------------------- metrics / ingest
    @property
    def trades(self) -> str:
        return self._k("trades")

    @property
    def trade_ids(self) -> str:
        return self._k("trades", "ids")

    @property
    def batches_seen(self) -> str:
        return self._k("batches", "seen")

    @property
    def trading_agg(self) -> str:
        return self._k("trading", "agg")

    @property
    def pnl_daily(self) -> str:
        return self._k("trading", "pnl_daily")

    @property
    def trade_pnls(self) -> str:
        return self._k("trading", "pnls")

    def exchange_latency(self, exchange: str) -> str:
        return self._k("exchange", exchange, "latency")

    def exchange_stats(self, exchange: str) -> str:
        return self._k("exchange", exchange, "stats")

    def exchange_window(self, exchange: str) -> str:
        return self._k("exchange", exchange, "window")

    @property
    def exchanges(self) -> str:
        return self._k("exchanges")

    def agent_stats(self, agent: str) -> str:
        return self._k("agent", agent, "stats")

    def agent_predictions(self, agent: str) -> str:
        return self._k("agent", agent, "predictions")

    def agent_failures(self, agent: str) -> str:
        return self._k("agent", agent, "failures")

    @property
    def agents(self) -> str:
        return self._k("agents")

    @property
    def portfolio_latest(self) -> str:
        return self._k("portfolio", "latest")

    @property
    def portfolio_snapshots(self) -> str:
        return self._k("portfolio", "snapshots")

    def host_system(self, host: str) -> str:
        return self._k("host", host, "system")

    @property
    def hosts(self) -> str:
        return self._k("hosts")

    @property
    def traders(self) -> str:
        return self._k("traders")

    def trader_portfolio(self, trader: str) -> str:
        return self._k("trader", trader, "portfolio")

    def trader_agg(self, trader: str) -> str:
        return self._k("trader", trader, "agg")

    def trader_heartbeat_of(self, trader: str) -> str:
        return self._k("trader", trader, "heartbeat")

    def trader_exchanges(self, trader: str) -> str:
        return self._k("trader", trader, "exchanges")

    def trader_rules(self, trader: str) -> str:
        return self._k("trader", trader, "rules")

    @property
    def ingest_stats(self) -> str:
        return self._k("ingest", "stats")

    # ----------------------------------------------------------- shared plumbing
    @property
    def dead_letters(self) -> str:
        return self._k("dead_letters")

    @property
    def events(self) -> str:
        return self._k("events")

    @property
    def trader_heartbeat(self) -> str:
        return self._k("trader", "heartbeat")

    @property
    def trading_paused(self) -> str:
        return self._k("trading", "paused")

    # ----------------------------------------------------------- alerting (issue 4 adds here)
    def alert(self, alert_id: str) -> str:
        return self._k("alert", alert_id)

    @property
    def alerts_active(self) -> str:
        return self._k("alerts", "active")

    @property
    def alerts_tracked(self) -> str:
        return self._k("alerts", "tracked")

    def alert_state(self, rule: str, fingerprint: str) -> str:
        return self._k("alert_state", rule, fingerprint)

    def alert_ack(self, alert_id: str) -> str:
        """Who acknowledged one alert, when, why and until when (alerting/acks.py); expires with the ack."""
        return self._k("alert_ack", alert_id)

    @property
    def alerts_escalation(self) -> str:
        """Escalation schedule: zset "rule|fp" -> Redis time its next step is due (alerting/escalation.py)."""
        return self._k("alerts", "escalation")

    @property
    def alerts_history(self) -> str:
        return self._k("alerts", "history")

    @property
    def alert_counts(self) -> str:
        return self._k("alerts", "counts")

    @property
    def notification_counts(self) -> str:
        return self._k("notifications", "counts")

    @property
    def notifications_undeliverable(self) -> str:
        return self._k("notifications", "undeliverable")

    @property
    def alerting_published(self) -> str:
        """The workers' effective non-secret alerting configuration (alerting/published.py)."""
        return self._k("alerting", "published")

    @property
    def silences(self) -> str:
        return self._k("silences")

    def silence(self, silence_id: str) -> str:
        return self._k("silence", silence_id)

    @property
    def silences_ends(self) -> str:
        return self._k("silences", "ends")

    @property
    def fast_eval_pending(self) -> str:
        return self._k("rules", "fast", "pending")

    @property
    def fast_eval_throttle(self) -> str:
        return self._k("rules", "fast", "throttle")

    def delivery(self, alert_id: str, channel: str, kind: str) -> str:
        """Idempotency record of one notification (alert × channel × firing|repeat-<n>|resolved)."""
        return self._k("delivery", alert_id, channel, kind)

    def notify_floor(self, alert_id: str, channel: str) -> str:
        """Repeat floor gate of one alert on one channel (``notify_floor.lua``)."""
        return self._k("notify", "floor", alert_id, channel)

    def channel_bucket(self, channel: str) -> str:
        return self._k("notify", channel, "bucket")

    def channel_hold(self, channel: str) -> str:
        return self._k("notify", channel, "hold")

    @property
    def notify_outbox(self) -> str:
        """Notifications recorded with their alert, not yet handed to the notify queues (alerting/outbox.py)."""
        return self._k("notify", "outbox")

    @property
    def notify_handed(self) -> str:
        """Notification tasks enqueued whose first run has not started yet (alerting/outbox.py)."""
        return self._k("notify", "handed")

    def notify_group(self, group: str) -> str:
        """A storm group's open window (alerting/grouping.py, ``notify_group.lua``)."""
        return self._k("notify", "group", group)

    def notify_group_held(self, group: str) -> str:
        return self._k("notify", "group", group, "held")

    @property
    def notify_groups_due(self) -> str:
        return self._k("notify", "groups", "due")

    def notify_grouped(self, message: str) -> str:
        """The members of one grouped message (``group_flush.lua``)."""
        return self._k("notify", "grouped", message)

    def notify_grouped_to(self, message: str) -> str:
        """Per destination, the members of one grouped message it lists (the routes and floors at its flush)."""
        return self._k("notify", "grouped", message, "to")

    # ----------------------------------------------------------- health / recovery / breakers (issue 5 adds here)

    def breaker(self, name: str) -> str:
        return self._k("breaker", name)

    @property
    def breakers(self) -> str:
        return self._k("breakers")

    @property
    def health_latest(self) -> str:
        return self._k("health", "latest")

    def health_history(self, check: str) -> str:
        return self._k("health", check, "history")

    @property
    def health_recovery(self) -> str:
        return self._k("health", "recovery")

    @property
    def control_stream(self) -> str:
        return self._k("control", "commands")

    def control_claims(self, command_id: str) -> str:
        return self._k("control", "claims", command_id)

    def control_results(self, command_id: str) -> str:
        return self._k("control", "results", command_id)

    @property
    def control_traders(self) -> str:
        """Live-trader registry: identity -> Redis time of its listener's last poll (health/commands.py)."""
        return self._k("control", "traders")

    def control_trader(self, identity: str) -> str:
        return self._k("control", "trader", identity)

    def control_ack(self, command_id: str) -> str:
        return self._k("control", "ack", command_id)

    @property
    def recovery_history(self) -> str:
        return self._k("recovery", "history")

    def digest_sent(self, due: int) -> str:
        """Claim of the digest due at epoch second ``due``: exactly one process sends it (health/digest.py)."""
        return self._k("digest", "sent", str(due))

    @property
    def recovery_counts(self) -> str:
        return self._k("recovery", "counts")

    def recovery_recorded(self, attempt_id: str) -> str:
        return self._k("recovery", "recorded", attempt_id)

    def recovery_lock(self, check: str) -> str:
        return self._k("recovery", check, "lock")

    @property
    def close_positions_window(self) -> str:
        return self._k("recovery", "close_positions", "window")

    # ----------------------------------------------------------- the watcher's own liveness
    @property
    def beat_prefix(self) -> str:
        """celery-redbeat's key prefix: entries are ``{prefix}{entry}``, its own keys ``{prefix}:schedule``..."""
        return self._k("beat", "")

    def beat_entry(self, entry: str) -> str:
        return self.beat_prefix + entry

    @property
    def beat_schedule(self) -> str:
        return self.beat_prefix + ":schedule"

    @property
    def beat_statics(self) -> str:
        return self.beat_prefix + ":statics"

    @property
    def beat_lock(self) -> str:
        return self._k("beat", "lock")

    @property
    def monitoring_stamps(self) -> str:
        """Fact -> Redis time it last happened (state/stamps.py names the fields)."""
        return self._k("monitoring", "stamps")
