"""Validated settings: one schema for monitoring.yaml, loaded once by ``load_settings()``.

Lookup order for the file: explicit path (``--config``), then ``$GRAPHWIZ_CONFIG``, then
``./monitoring.yaml``; no file at all means defaults. ``${VAR}`` and ``${VAR:-default}`` in string
values are replaced from the environment so secrets stay out of files. ``$GRAPHWIZ_REDIS_URL``
overrides ``redis.url``. Every problem is reported at once in one ``ConfigError``, with its key path
and the offending value (secrets masked).

Modules: ``fields`` (base model, field types), ``channels``, ``alerts``, ``health``, ``runtime``
(the sections), ``settings`` (the root model), ``masking`` (secrets), ``loading`` (files, env, errors),
``redis_url`` (the Sentinel URL form, shared by the broker and the store).
"""

from __future__ import annotations

from graphwiz_monitoring.config.alerts import (
    AlertsSettings,
    Channels,
    CooldownSettings,
    CustomRuleSettings,
    EscalationSettings,
    EscalationStep,
    InhibitSettings,
    RuleOverride,
    Severity,
    SilenceSettings,
)
from graphwiz_monitoring.config.availability import BeatSettings
from graphwiz_monitoring.config.channels import (
    ChannelSettings,
    DiscordSettings,
    EmailSettings,
    LogSettings,
    NotificationsSettings,
    RateLimit,
    SlackSettings,
    TelegramSettings,
    WebhookSettings,
)
from graphwiz_monitoring.config.fields import Port, PositiveSeconds
from graphwiz_monitoring.config.health import (
    DEFAULT_CHECKS,
    CircuitBreakerSettings,
    HealthCheckSettings,
    HealthChecksSettings,
    Neo4jProbeSettings,
    ProbeSettings,
    Recovery,
    RecoverySettings,
)
from graphwiz_monitoring.config.loading import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_FILE,
    REDIS_URL_ENV_VAR,
    find_config_file,
    load_settings,
    parse_settings,
)
from graphwiz_monitoring.config.masking import MASK, SECRET_KEYS, mask_url
from graphwiz_monitoring.config.runtime import (
    FlowerSettings,
    MonitoringSettings,
    RedisSettings,
    RetentionSettings,
    TraderSettings,
    WebsocketSettings,
)
from graphwiz_monitoring.config.settings import Settings

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CHECKS",
    "DEFAULT_CONFIG_FILE",
    "MASK",
    "REDIS_URL_ENV_VAR",
    "SECRET_KEYS",
    "AlertsSettings",
    "ChannelSettings",
    "Channels",
    "CircuitBreakerSettings",
    "CooldownSettings",
    "EscalationSettings",
    "EscalationStep",
    "CustomRuleSettings",
    "DiscordSettings",
    "EmailSettings",
    "BeatSettings",
    "FlowerSettings",
    "HealthCheckSettings",
    "HealthChecksSettings",
    "InhibitSettings",
    "LogSettings",
    "MonitoringSettings",
    "Neo4jProbeSettings",
    "NotificationsSettings",
    "Port",
    "PositiveSeconds",
    "ProbeSettings",
    "RateLimit",
    "Recovery",
    "RecoverySettings",
    "RedisSettings",
    "RetentionSettings",
    "RuleOverride",
    "Settings",
    "Severity",
    "SilenceSettings",
    "SlackSettings",
    "TelegramSettings",
    "TraderSettings",
    "WebhookSettings",
    "WebsocketSettings",
    "find_config_file",
    "load_settings",
    "mask_url",
    "parse_settings",
]
