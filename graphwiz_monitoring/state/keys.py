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
| {ns}:trading:returns                  | list   | per-trade returns, LTRIM to retention              |
| {ns}:exchange:{name}:latency          | list   | latency samples (s), LTRIM to retention            |
| {ns}:exchange:{name}:stats            | hash   | connected, rate_limit_remaining, fills, errors     |
| {ns}:exchanges                        | set    | known exchange names                               |
| {ns}:agent:{name}:stats               | hash   | predictions, correct, scored, confidence_sum       |
| {ns}:agent:{name}:predictions         | list   | recent predictions, LTRIM                          |
| {ns}:agents                           | set    | known agent names                                  |
| {ns}:portfolio:latest                 | hash   | last snapshot (JSON fields)                        |
| {ns}:portfolio:snapshots              | zset   | JSON snapshot scored by time; trimmed by age       |
| {ns}:host:{host}:system               | hash   | last system metrics of a host; TTL 10 min          |
| {ns}:hosts                            | zset   | host -> last report time                           |
| {ns}:dead_letters                     | list   | rejected payloads / undeliverable notifications    |
| {ns}:events                           | pubsub | channel for realtime events                        |
| {ns}:trader:heartbeat                 | hash   | last trader report (time, pid, host, deps status)  |
| {ns}:trading:paused                   | hash   | persistent trading-paused flag (no TTL)            |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeySpace:
    namespace: str = "graphwiz"

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
    def trade_returns(self) -> str:
        return self._k("trading", "returns")

    def exchange_latency(self, exchange: str) -> str:
        return self._k("exchange", exchange, "latency")

    def exchange_stats(self, exchange: str) -> str:
        return self._k("exchange", exchange, "stats")

    @property
    def exchanges(self) -> str:
        return self._k("exchanges")

    def agent_stats(self, agent: str) -> str:
        return self._k("agent", agent, "stats")

    def agent_predictions(self, agent: str) -> str:
        return self._k("agent", agent, "predictions")

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

    # ----------------------------------------------------------- health / recovery / breakers (issue 5 adds here)
