"""Settings of the running parts: metrics loop, Redis, WebSocket server, retention, trader client, Flower."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from graphwiz_monitoring.config.fields import HostList, Port, PositiveSeconds, StrictModel
from graphwiz_monitoring.config.masking import VALUE_FREE_ERROR
from graphwiz_monitoring.config.redis_url import (
    SENTINEL_SCHEME,
    SentinelUrlError,
    is_sentinel_url,
    parse_sentinel_url,
)


class MonitoringSettings(StrictModel):
    prometheus_port: Port = 8000
    prometheus_host: str = "127.0.0.1"  # loopback by default; expose on purpose
    # Host headers the exporter answers besides loopback names, IP addresses and prometheus_host (DNS
    # rebinding guard, http_access.py): e.g. the name Prometheus scrapes it by ("exporter" in compose).
    prometheus_allowed_hosts: HostList = Field(default_factory=list)
    prometheus_url: str = "http://localhost:9090"
    # Who serves /metrics on prometheus_host:prometheus_port. None (unset): `graphwiz-monitoring run` starts
    # its exporter, a trader does not serve. True: both do (the description's Basic Usage: the trader serves
    # /metrics itself from create_monitor(...).start() to stop(); where the port is already served, it says
    # so in one log line and carries on). False: neither.
    enable_prometheus: bool | None = None
    metrics_interval_seconds: PositiveSeconds = 15
    # The interval of every health check that sets no interval_seconds of its own
    # (health_checks.checks.<name>.interval_seconds wins); None: each check's built-in interval (config/health.py).
    health_check_interval_seconds: PositiveSeconds | None = None
    rule_evaluation_interval_seconds: PositiveSeconds = 5
    # The same three states for the WebSocket stream and status page (websocket.host:port): None, `run`
    # starts its realtime server and a trader does not; True, a trader serves it too; False, neither.
    enable_realtime: bool | None = None
    # Equity before the first trade: the trade-based equity curve (drawdown, Sharpe) starts here when no
    # portfolio snapshots are reported; None leaves those metrics unset in that case.
    initial_capital_usd: float | None = Field(None, gt=0)
    # Dead-man's switch (celery/heartbeat.py): this URL (Healthchecks.io, Uptime Kuma push, ...) is
    # requested every heartbeat_interval_seconds while the whole pipeline is alive; the outside service
    # alerts when the pings stop. A secret: never logged. None: no pings.
    heartbeat_url: SecretStr | None = None
    heartbeat_interval_seconds: PositiveSeconds = 60
    # Where the generated alertmanager.yml sends the always-firing graphwiz_watchdog alert every minute
    # (`graphwiz-monitoring export-dashboards`): a second check at the same service, never heartbeat_url's.
    watchdog_url: SecretStr | None = None


# URL schemes redis.url may use: every one is a form the worker hardening (celery/hardening.py: guarded
# transport, dead-worker requeue, lost-pop recovery) and redis-py (state/store.py) both understand. Any
# other (redis+socket://, a typo) is refused here rather than running without the hardening.
REDIS_URL_SCHEMES = ("redis", "rediss", "unix", SENTINEL_SCHEME)
# Without redis.min_replicas_acked: the replicas a promise-keeping write waits for (state/store.py durable).
SENTINEL_DEFAULT_REPLICAS_ACKED = 1


def _redis_url(value: Any) -> Any:
    # A value-free error type: loading.py shows its message although redis.url is a secret key, since
    # the message names only the scheme (what precedes "://") or an address's position, never the host,
    # user or password.
    scheme = value.partition("://")[0].lower() if isinstance(value, str) and "://" in value else ""
    if scheme not in REDIS_URL_SCHEMES:
        shown = repr(scheme) if re.fullmatch(r"[a-z][a-z0-9+.-]{0,19}", scheme) else "none"
        raise PydanticCustomError(VALUE_FREE_ERROR, "must be a redis://, rediss://, unix:// or sentinel:// URL "
                                  "(the schemes the worker hardening covers), got scheme {scheme}", {"scheme": shown})
    if scheme == SENTINEL_SCHEME:
        try:
            parse_sentinel_url(value)
        except SentinelUrlError as exc:
            raise PydanticCustomError(VALUE_FREE_ERROR, "{problem}", {"problem": str(exc)}) from None
    return value


class RedisSettings(StrictModel):
    url: Annotated[str, BeforeValidator(_redis_url)] = "redis://127.0.0.1:6379/0"
    # Redis Sentinel (url = sentinel://...;sentinel://.../db, config/redis_url.py): the master set's name,
    # required with a sentinel URL and refused without one; the sentinels' own password, if they have one
    # (the URL's password is the master's and replicas').
    # An empty value is unset ("${VAR:-}" in a config shared by a single-Redis and a Sentinel deployment).
    sentinel_master: str | None = Field(None, validate_default=True)
    sentinel_password: Annotated[SecretStr | None, BeforeValidator(lambda v: v or None)] = None
    # Writes whose loss would break a promise (alert episodes, outbox entries, ingest marks, delivery
    # outcomes, silences) wait until this many replicas have them (Redis WAIT), at most
    # replica_ack_timeout_seconds; 0 = never wait. None: 1 with a sentinel URL, 0 with a single Redis.
    min_replicas_acked: int | None = Field(None, ge=0, le=16)
    replica_ack_timeout_seconds: PositiveSeconds = 1
    namespace: str = Field("graphwiz", pattern=r"^[A-Za-z0-9_.-]+$")
    # How long an unacknowledged task (its worker was killed) waits before Redis hands it out again;
    # retry countdowns are capped at half of it so that waiting retries are never redelivered early.
    visibility_timeout_seconds: PositiveSeconds = 1200
    socket_timeout_seconds: PositiveSeconds = 5

    @field_validator("sentinel_master")
    @classmethod
    def _master_with_sentinel_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value or None
        url = info.data.get("url")
        if url is None:  # the URL itself is invalid: reported there
            return value
        if is_sentinel_url(url) and not value:
            raise ValueError("required when redis.url is a sentinel:// URL: the name of the master set the "
                             "sentinels watch (sentinel monitor <name> ...)")
        if value is not None and not is_sentinel_url(url):
            raise ValueError(f"is only used with a sentinel:// redis.url, got {value!r}")
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", value):
            raise ValueError(f"must be a master name (letters, digits, _ . -), got {value!r}")
        return value

    @property
    def is_sentinel(self) -> bool:
        return is_sentinel_url(self.url)

    @property
    def replicas_to_wait(self) -> int:
        """How many replicas a durable write waits for (``min_replicas_acked``, or its default)."""
        if self.min_replicas_acked is not None:
            return self.min_replicas_acked
        return SENTINEL_DEFAULT_REPLICAS_ACKED if self.is_sentinel else 0


class WebsocketSettings(StrictModel):
    host: str = "127.0.0.1"
    port: Port = 8765
    token: SecretStr | None = None  # required whenever host is not loopback
    allowed_origins: list[str] = Field(default_factory=list)  # empty: same-host origins only
    allowed_hosts: HostList = Field(default_factory=list)  # Host names besides loopback, IPs and host
    client_queue_size: int = Field(256, gt=0)
    ping_interval_seconds: PositiveSeconds = 20


class RetentionSettings(StrictModel):
    trades_max_count: int = Field(100_000, gt=0)
    trades_max_age_hours: PositiveSeconds = 168
    snapshots_max_age_hours: PositiveSeconds = 192  # > 7 d so the 7 d return has data
    latency_samples_per_exchange: int = Field(1000, gt=0)
    predictions_per_agent: int = Field(1000, gt=0)
    dead_letters_max: int = Field(10_000, gt=0)
    trade_pnl_samples: int = Field(10_000, gt=0)  # last n trade P&Ls kept for VaR
    snapshot_interval_seconds: PositiveSeconds = 60  # portfolio history keeps at most one snapshot per interval
    daily_pnl_days: int = Field(400, gt=0)
    rate_window_seconds: PositiveSeconds = 3600  # fill rate / error rate look back this far
    agent_failure_window_seconds: PositiveSeconds = 300  # "recent" agent failures
    host_stale_seconds: PositiveSeconds = 600  # a host that stopped reporting disappears after this
    max_exchanges: int = Field(200, gt=0)  # cardinality bounds: Redis keys and Prometheus series
    max_agents: int = Field(500, gt=0)
    max_traders: int = Field(100, gt=0)  # trader identities kept apart; a new one beyond counts in the totals only
    # A trader identity silent this long is forgotten: its portfolio leaves the summed one, its keys go
    # (a renamed or re-hosted trader does not stay in the total forever).
    trader_forget_seconds: PositiveSeconds = 604_800


class TraderSettings(StrictModel):
    """The in-process client inside the trader."""

    # This trader's identity on the control stream (its own consumer group, its acknowledgements, its
    # close_positions window); None: the host name ($GRAPHWIZ_HOST overrides). Give each trader process
    # on one host its own name: two live processes answering as one name are reported as a conflict.
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
    buffer_max_records: int = Field(100_000, gt=0)  # in memory; beyond this records spill to the journal
    batch_max_records: int = Field(1000, gt=0)
    flush_interval_seconds: PositiveSeconds = 0.05
    journal_dir: str = ".graphwiz/journal"
    # Disk bound of the journal; with memory full as well, record_* raises BackpressureError.
    journal_max_bytes: int = Field(1024**3, gt=0)
    # Once a send has failed (broker unreachable), every accepted record is in the journal and fsync'ed
    # within this many seconds, so a trader killed during an outage loses at most this much (trader/shipper.py).
    journal_sync_seconds: PositiveSeconds = 1
    poll_interval_seconds: PositiveSeconds = 5  # how often dependency objects are polled
    host_metrics_interval_seconds: PositiveSeconds = 15
    heartbeat_interval_seconds: PositiveSeconds = 5
    stop_timeout_seconds: PositiveSeconds = 10  # stop() delivers for this long, then journals the rest
    # A sent batch that no worker has recorded by then (lost by the broker) is sent again (trader/inflight.py).
    resend_unconfirmed_after_seconds: PositiveSeconds = 30
    # The trader's own fallback (trader/fallback.py): batches sent (or journaled) and none recorded by a
    # worker for this long = the monitoring pipeline is down; the trader then tells fallback_channels itself.
    pipeline_stale_seconds: PositiveSeconds = 60
    # Channels the trader notifies directly (no broker) of "monitoring pipeline down" and "back", with
    # the settings of this (the trader's own) configuration's notifications section; [] = no fallback.
    fallback_channels: list[Literal["webhook", "telegram", "discord", "slack"]] = Field(default_factory=list)


class FlowerSettings(StrictModel):
    """`graphwiz-monitoring flower`: basic auth is required whenever host is not loopback."""

    host: str = "127.0.0.1"
    port: Port = 5555
    basic_auth_user: str = Field("admin", min_length=1, pattern=r"^[^:]+$")  # no ':' (user:password)
    basic_auth_password: SecretStr | None = None
    max_tasks: int = Field(10_000, gt=0)  # tasks Flower keeps in memory
    allowed_hosts: HostList = Field(default_factory=list)  # Host names besides loopback, IPs and host
