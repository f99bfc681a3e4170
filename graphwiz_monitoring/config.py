"""Validated settings: one schema for monitoring.yaml, loaded once by ``load_settings()``.

Lookup order for the file: explicit path (``--config``), then ``$GRAPHWIZ_CONFIG``, then
``./monitoring.yaml``; no file at all means defaults. ``${VAR}`` and ``${VAR:-default}`` in string
values are replaced from the environment so secrets stay out of files. ``$GRAPHWIZ_REDIS_URL``
overrides ``redis.url``. Every problem is reported at once in one ``ConfigError``, with its key path
and the offending value (secrets masked).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from .alerting.models import AlertChannel, AlertSeverity
from .errors import ConfigError
from .health.models import RecoveryAction

CONFIG_ENV_VAR = "GRAPHWIZ_CONFIG"
REDIS_URL_ENV_VAR = "GRAPHWIZ_REDIS_URL"
DEFAULT_CONFIG_FILE = "monitoring.yaml"
MASK = "**********"

# Keys whose values are secrets: masked in error messages and in check-config output.
SECRET_KEYS = frozenset({"webhook_url", "password", "bot_token", "token", "secret", "headers", "url"})


def _port(value: Any) -> Any:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be 1..65535, got {value!r}") from None
    if isinstance(value, bool) or not 1 <= port <= 65535 or (isinstance(value, float) and value != port):
        raise ValueError(f"must be 1..65535, got {value!r}")
    return port


def _positive(value: Any) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a positive number, got {value!r}") from None
    if isinstance(value, bool) or not number > 0 or number != number or number == float("inf"):
        raise ValueError(f"must be a positive number, got {value!r}")
    return number


Port = Annotated[int, BeforeValidator(_port)]
PositiveSeconds = Annotated[float, BeforeValidator(_positive)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MonitoringSettings(_Model):
    prometheus_port: Port = 8000
    prometheus_host: str = "127.0.0.1"  # loopback by default; expose on purpose
    prometheus_url: str = "http://localhost:9090"
    enable_prometheus: bool = True
    metrics_interval_seconds: PositiveSeconds = 15
    health_check_interval_seconds: PositiveSeconds = 30
    rule_evaluation_interval_seconds: PositiveSeconds = 5
    enable_realtime: bool = True
    # Equity before the first trade: the trade-based equity curve (drawdown, Sharpe) starts here when no
    # portfolio snapshots are reported; None leaves those metrics unset in that case.
    initial_capital_usd: float | None = Field(None, gt=0)


class RedisSettings(_Model):
    url: str = "redis://127.0.0.1:6379/0"
    namespace: str = Field("graphwiz", pattern=r"^[A-Za-z0-9_.-]+$")
    # How long an unacknowledged task (its worker was killed) waits before Redis hands it out again;
    # retry countdowns are capped at half of it so that waiting retries are never redelivered early.
    visibility_timeout_seconds: PositiveSeconds = 1200
    socket_timeout_seconds: PositiveSeconds = 5


class RateLimit(_Model):
    """``count`` sends per ``per_seconds`` on average, cluster-wide (token bucket in Redis).

    The bucket holds ``burst`` tokens (default: ``count``), so any window of W seconds sees at most
    ``burst + count * W / per_seconds`` sends; ``burst: 1`` spaces sends evenly.
    """

    count: int = Field(gt=0)
    per_seconds: PositiveSeconds
    burst: int | None = Field(None, gt=0)


class ChannelSettings(_Model):
    enabled: bool | None = None  # None: enabled when the channel's required fields are set
    send_resolved: bool = True
    rate_limit: RateLimit | None = None
    timeout_seconds: PositiveSeconds = 10
    # Delivery retries on network errors, 5xx and 429: backoff doubles from retry_backoff_seconds
    # (with jitter) up to retry_backoff_max_seconds; a Retry-After from the API wins. After
    # max_retries failed attempts: dead-letter list + log channel. Tests use small values.
    max_retries: int = Field(10, ge=0)
    retry_backoff_seconds: PositiveSeconds = 2
    retry_backoff_max_seconds: PositiveSeconds = 600

    def is_configured(self) -> bool:
        return True

    @property
    def active(self) -> bool:
        return self.is_configured() if self.enabled is None else (self.enabled and self.is_configured())


class DiscordSettings(ChannelSettings):
    webhook_url: SecretStr | None = None
    # Discord: about 5 requests / 2 s per webhook, 30 / min per channel.
    rate_limit: RateLimit | None = RateLimit(count=30, per_seconds=60, burst=5)

    def is_configured(self) -> bool:
        return bool(self.webhook_url and self.webhook_url.get_secret_value())


class SlackSettings(ChannelSettings):
    webhook_url: SecretStr | None = None
    rate_limit: RateLimit | None = RateLimit(count=1, per_seconds=1)  # Slack: 1 msg/s per webhook

    def is_configured(self) -> bool:
        return bool(self.webhook_url and self.webhook_url.get_secret_value())


class EmailSettings(ChannelSettings):
    enabled: bool | None = False
    smtp_server: str | None = None
    smtp_port: Port = 587
    use_tls: bool = True  # STARTTLS
    use_ssl: bool = False  # implicit TLS (port 465)
    username: str | None = None
    password: SecretStr | None = None
    from_: str | None = Field(None, alias="from")
    to: list[str] = Field(default_factory=list)
    ca_file: str | None = None  # PEM CA bundle to verify the server (private CA); default: system store
    rate_limit: RateLimit | None = RateLimit(count=30, per_seconds=60, burst=5)

    def is_configured(self) -> bool:
        return bool(self.smtp_server and self.from_ and self.to)


class TelegramSettings(ChannelSettings):
    bot_token: SecretStr | None = None
    chat_id: str | None = None
    api_base: str = "https://api.telegram.org"
    # Telegram: about 1 msg/s per chat and 20/min per group.
    rate_limit: RateLimit | None = RateLimit(count=20, per_seconds=60, burst=1)

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat_id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    def is_configured(self) -> bool:
        return bool(self.bot_token and self.bot_token.get_secret_value() and self.chat_id)


class WebhookSettings(ChannelSettings):
    url: SecretStr | None = None
    secret: SecretStr | None = None  # HMAC-SHA256 signing key
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    rate_limit: RateLimit | None = RateLimit(count=10, per_seconds=1)

    def is_configured(self) -> bool:
        return bool(self.url and self.url.get_secret_value())


class LogSettings(ChannelSettings):
    enabled: bool | None = True
    level: str = "WARNING"
    rate_limit: RateLimit | None = None

    def is_configured(self) -> bool:
        return True


class NotificationsSettings(_Model):
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    def for_channel(self, channel: AlertChannel | str) -> ChannelSettings:
        return getattr(self, AlertChannel.parse(channel).value)


def _severity(value: Any) -> AlertSeverity:
    return AlertSeverity.parse(value)


def _channels(value: Any) -> list[AlertChannel]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"must be a list of channels, got {value!r}")
    return [AlertChannel.parse(v) for v in value]


Severity = Annotated[AlertSeverity, BeforeValidator(_severity)]
Channels = Annotated[list[AlertChannel], BeforeValidator(_channels)]


class CooldownSettings(_Model):
    info: PositiveSeconds = 600
    warning: PositiveSeconds = 300
    critical: PositiveSeconds = 60
    emergency: PositiveSeconds = 10

    def for_severity(self, severity: AlertSeverity) -> float:
        return getattr(self, severity.value)


class RuleOverride(_Model):
    """Overrides for one built-in rule; unset fields keep the built-in default."""

    enabled: bool = True
    threshold: float | None = None
    severity: Severity | None = None
    channels: Channels | None = None
    cooldown_seconds: PositiveSeconds | None = None
    for_seconds: float = Field(0, ge=0)


class CustomRuleSettings(_Model):
    """A YAML rule: a safe expression over the metrics snapshot (never eval'd)."""

    condition: str
    severity: Severity = AlertSeverity.WARNING
    channels: Channels = Field(default_factory=lambda: [AlertChannel.LOG])
    title: str
    message: str
    cooldown_seconds: PositiveSeconds | None = None
    for_seconds: float = Field(0, ge=0)
    enabled: bool = True
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _compile(self) -> CustomRuleSettings:
        from .alerting.rules import check_custom_rule  # lazy: rules imports config types

        check_custom_rule(self)  # RuleError is a ValueError: reported with this rule's key path
        return self


class SilenceSettings(_Model):
    """Mute matching alerts between ``starts_at`` and ``ends_at`` (ISO-8601); matchers are label=value."""

    matchers: dict[str, str]
    starts_at: str | None = None
    ends_at: str
    author: str = "config"
    reason: str = ""

    @model_validator(mode="after")
    def _times(self) -> SilenceSettings:
        from .alerting.silences import check_silence_settings

        check_silence_settings(self)
        return self


class InhibitSettings(_Model):
    """While an alert matching ``source`` fires, alerts matching ``target`` with equal ``equal`` labels are muted."""

    source: dict[str, str]
    target: dict[str, str]
    target_rules: list[str] = Field(default_factory=list)
    equal: list[str] = Field(default_factory=list)


def _default_inhibit() -> list[InhibitSettings]:
    return [
        InhibitSettings(source={"rule": "exchange_disconnect"}, target={}, target_rules=["high_latency", "rate_limit"],
                        equal=["exchange"]),
    ]


class AlertsSettings(_Model):
    cooldowns: CooldownSettings = Field(default_factory=CooldownSettings)
    rules: dict[str, RuleOverride] = Field(default_factory=dict)
    custom_rules: dict[str, CustomRuleSettings] = Field(default_factory=dict)
    rule_modules: list[str] = Field(default_factory=list)
    silences: list[SilenceSettings] = Field(default_factory=list)
    inhibit: list[InhibitSettings] = Field(default_factory=_default_inhibit)
    history_retention_hours: PositiveSeconds = 168
    history_max_entries: int = Field(10_000, gt=0)
    # Fast path: ingested data re-evaluates the affected rules at most this often.
    fast_evaluation_min_interval_seconds: float = Field(0.05, ge=0)

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: dict[str, RuleOverride]) -> dict[str, RuleOverride]:
        from .alerting.rules import check_overrides

        check_overrides(value)
        return value


def _recovery(value: Any) -> list[RecoveryAction]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"must be a list of recovery actions, got {value!r}")
    out = []
    for v in value:
        try:
            out.append(RecoveryAction(str(v).strip().lower()))
        except ValueError:
            raise ValueError(f"unknown recovery action, expected one of {[a.value for a in RecoveryAction]}, got {v!r}") from None
    return out


Recovery = Annotated[list[RecoveryAction], BeforeValidator(_recovery)]


class HealthCheckSettings(_Model):
    """One scheduled check; ``thresholds`` keys are fixed per check (see DEFAULT_CHECKS)."""

    enabled: bool = True
    interval_seconds: PositiveSeconds
    recovery: Recovery = Field(default_factory=list)
    thresholds: dict[str, float] = Field(default_factory=dict)


# name: (interval seconds, recovery actions in order, default thresholds)
DEFAULT_CHECKS: dict[str, tuple[float, list[str], dict[str, float]]] = {
    "exchange_connectivity": (30, ["reconnect", "notify_admin"], {}),
    "neo4j_connectivity": (60, ["reconnect", "notify_admin"], {}),
    "api_rate_limits": (10, ["scale_down", "pause_trading"], {"healthy_above": 50, "degraded_above": 10}),
    "system_resources": (60, ["clear_cache", "notify_admin"], {"cpu_percent": 90, "memory_percent": 90, "disk_percent": 90}),
    "disk_space": (300, ["clear_cache", "notify_admin"], {"degraded_percent": 80, "unhealthy_percent": 90, "critical_percent": 95}),
    "agent_health": (60, ["restart"], {}),
    "portfolio_health": (30, ["pause_trading", "close_positions"], {"max_drawdown": 0.15, "max_leverage": 3, "max_positions": 20}),
    "database_locks": (60, ["clear_cache"], {"max_active_transactions": 10}),
}


class Neo4jProbeSettings(_Model):
    uri: str | None = None  # bolt://host:7687
    user: str = "neo4j"
    password: SecretStr | None = None


class ProbeSettings(_Model):
    """Active probes a worker runs itself; unset means the check relies on trader reports only."""

    exchanges: dict[str, str] = Field(default_factory=dict)  # name -> status URL (HTTP GET, 2xx = up)
    neo4j: Neo4jProbeSettings = Field(default_factory=Neo4jProbeSettings)
    timeout_seconds: PositiveSeconds = 5


class HealthChecksSettings(_Model):
    checks: dict[str, HealthCheckSettings] = Field(default_factory=dict)
    probes: ProbeSettings = Field(default_factory=ProbeSettings)
    # A trader that has not reported for this long is itself unhealthy.
    trader_stale_seconds: PositiveSeconds = 30

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        given = data.get("checks") or {}
        if not isinstance(given, Mapping):
            return data
        unknown = sorted(set(given) - set(DEFAULT_CHECKS))
        if unknown:
            raise ValueError(f"unknown health check(s) {unknown}; known: {sorted(DEFAULT_CHECKS)}")
        merged: dict[str, Any] = {}
        for name, (interval, recovery, thresholds) in DEFAULT_CHECKS.items():
            override = given.get(name) or {}
            if not isinstance(override, Mapping):  # left as is: validation reports it at its key path
                merged[name] = override
                continue
            own = override.get("thresholds") or {}
            extra = set(own) - set(thresholds) if isinstance(own, Mapping) else set()
            if extra:
                raise ValueError(f"checks.{name}.thresholds: unknown key(s) {sorted(extra)}; known: {sorted(thresholds)}")
            merged[name] = {
                "interval_seconds": interval,
                "recovery": recovery,
                **override,
                "thresholds": {**thresholds, **own} if isinstance(own, Mapping) else own,
            }
        data["checks"] = merged
        return data


class RecoverySettings(_Model):
    enabled: bool = True
    dry_run: bool = False  # log what would run, run nothing
    ack_timeout_seconds: PositiveSeconds = 10  # no acknowledgement from the trader within this is a failure
    allow_close_positions: bool = False  # destructive: off unless enabled on purpose
    close_positions_window_seconds: PositiveSeconds = 3600  # at most once per window
    scale_down_factor: float = Field(0.5, gt=0, lt=1)  # passed to trading_engine.scale_down(factor)


class CircuitBreakerSettings(_Model):
    failure_threshold: int = Field(3, gt=0)
    recovery_timeout_seconds: PositiveSeconds = 300
    # The half-open trial is a lease: a trial whose holder crashed is handed out again after this.
    trial_timeout_seconds: PositiveSeconds = 60


class WebsocketSettings(_Model):
    host: str = "127.0.0.1"
    port: Port = 8765
    token: SecretStr | None = None  # required whenever host is not loopback
    allowed_origins: list[str] = Field(default_factory=list)  # empty: same-host origins only
    client_queue_size: int = Field(256, gt=0)
    ping_interval_seconds: PositiveSeconds = 20


class RetentionSettings(_Model):
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


class TraderSettings(_Model):
    """The in-process client inside the trader."""

    buffer_max_records: int = Field(100_000, gt=0)  # in memory; beyond this records spill to the journal
    batch_max_records: int = Field(1000, gt=0)
    flush_interval_seconds: PositiveSeconds = 0.05
    journal_dir: str = ".graphwiz/journal"
    poll_interval_seconds: PositiveSeconds = 5  # how often dependency objects are polled
    host_metrics_interval_seconds: PositiveSeconds = 15
    heartbeat_interval_seconds: PositiveSeconds = 5
    stop_timeout_seconds: PositiveSeconds = 10  # stop() delivers for this long, then journals the rest


class FlowerSettings(_Model):
    """`graphwiz-monitoring flower`: basic auth is required whenever host is not loopback."""

    host: str = "127.0.0.1"
    port: Port = 5555
    basic_auth_user: str = Field("admin", min_length=1, pattern=r"^[^:]+$")  # no ':' (user:password)
    basic_auth_password: SecretStr | None = None
    max_tasks: int = Field(10_000, gt=0)  # tasks Flower keeps in memory


class Settings(_Model):
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    notifications: NotificationsSettings = Field(default_factory=NotificationsSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    health_checks: HealthChecksSettings = Field(default_factory=HealthChecksSettings)
    recovery: RecoverySettings = Field(default_factory=RecoverySettings)
    circuit_breakers: CircuitBreakerSettings = Field(default_factory=CircuitBreakerSettings)
    websocket: WebsocketSettings = Field(default_factory=WebsocketSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    trader: TraderSettings = Field(default_factory=TraderSettings)
    flower: FlowerSettings = Field(default_factory=FlowerSettings)

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data with every secret masked."""
        data = self.model_dump(mode="json", by_alias=True)
        data["redis"]["url"] = mask_url(self.redis.url)
        return data


# ---------------------------------------------------------------- loading

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def mask_url(url: str) -> str:
    """Replace the password of a URL (redis://user:pw@host) with a mask."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}{MASK}@{netloc}"))


def _substitute(node: Any, env: Mapping[str, str], path: str | None, problems: list[str]) -> Any:
    if isinstance(node, dict):  # path None is the root (an empty key "" is still a key)
        return {k: _substitute(v, env, str(k) if path is None else f"{path}.{k}", problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, env, f"{path or ''}[{i}]", problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(f"{path}: environment variable {name} is not set (use ${{{name}:-default}} for a default)")
            return ""
        return _ENV_REF.sub(repl, node)
    return node


def _is_secret_path(loc: tuple[Any, ...]) -> bool:
    names = {str(p) for p in loc}
    return bool(names & SECRET_KEYS) and not (names & {"prometheus_url", "api_base"})


def _nested_secrets(node: Any, under: bool = False) -> list[str]:
    """Values under secret-named keys anywhere inside ``node`` (a section misplaced into another one)."""
    if isinstance(node, Mapping):
        return [s for k, v in node.items() for s in _nested_secrets(v, under or str(k) in SECRET_KEYS)]
    if isinstance(node, (list, tuple, set)):
        return [s for v in node for s in _nested_secrets(v, under)]
    return [str(node)] if under and node is not None and len(str(node)) >= 4 else []


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
    path = ".".join(str(p) for p in loc) or "(root)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{path}: unknown key"
    shown = MASK if _is_secret_path(loc) else repr(error.get("input"))
    if "got " in message or isinstance(error.get("input"), Mapping):  # our own validators already name the value
        text = f"{path}: {message}" if not _is_secret_path(loc) else f"{path}: invalid value {MASK}"
    else:
        text = f"{path}: {message}, got {shown}"
    for secret in sorted(_nested_secrets(error.get("input")), key=len, reverse=True):  # echoed containers
        text = text.replace(secret, MASK).replace(repr(secret)[1:-1], MASK)
    return text


def parse_settings(data: Mapping[str, Any] | None, *, source: str | None = None,
                   env: Mapping[str, str] | None = None) -> Settings:
    """Validate a configuration mapping (as loaded from YAML or given to create_monitor)."""
    env = os.environ if env is None else env
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError([f"(root): must be a mapping of sections, got {type(data).__name__}"], source)
    problems: list[str] = []
    try:
        resolved = _substitute(dict(data), env, None, problems)
    except RecursionError:  # hundreds of levels: no real configuration nests like that
        raise ConfigError(["(root): nested too deeply"], source) from None
    if env.get(REDIS_URL_ENV_VAR):
        redis_section = resolved.get("redis")
        resolved["redis"] = {**(redis_section if isinstance(redis_section, dict) else {}), "url": env[REDIS_URL_ENV_VAR]}
    try:
        settings = Settings.model_validate(resolved)
    except PydanticValidationError as exc:
        problems.extend(_describe(e) for e in exc.errors())
        settings = None
    if problems or settings is None:
        raise ConfigError(problems, source)
    return settings


def find_config_file(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The file to load: explicit path, then $GRAPHWIZ_CONFIG, then ./monitoring.yaml (None if absent)."""
    env = os.environ if env is None else env
    if path:
        return Path(path)
    if env.get(CONFIG_ENV_VAR):
        return Path(env[CONFIG_ENV_VAR])
    default = Path.cwd() / DEFAULT_CONFIG_FILE
    return default if default.exists() else None


def load_settings(path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Find, read, substitute and validate the configuration; raises ConfigError listing every problem."""
    file = find_config_file(path, env)
    if file is None:
        return parse_settings({}, source="defaults", env=env)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read config file: {exc.strerror}"], str(file)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"not UTF-8 text: invalid byte at offset {exc.start}"], str(file)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"], str(file)) from None
    except RecursionError:  # PyYAML's parser recurses once per level of [ or {
        raise ConfigError(["not valid YAML: nested too deeply"], str(file)) from None
    return parse_settings(data or {}, source=str(file), env=env)
