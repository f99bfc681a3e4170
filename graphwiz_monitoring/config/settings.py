"""The root settings model: one section per top-level key of monitoring.yaml."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator

from graphwiz_monitoring.config.alerts import AlertsSettings
from graphwiz_monitoring.config.availability import BeatSettings
from graphwiz_monitoring.config.channels import NotificationsSettings
from graphwiz_monitoring.config.fields import StrictModel, positive_seconds
from graphwiz_monitoring.config.health import (
    CircuitBreakerSettings,
    HealthChecksSettings,
    RecoverySettings,
    with_default_interval,
)
from graphwiz_monitoring.config.masking import mask_url
from graphwiz_monitoring.config.runtime import (
    FlowerSettings,
    MonitoringSettings,
    RedisSettings,
    RetentionSettings,
    TraderSettings,
    WebsocketSettings,
)


class Settings(StrictModel):
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
    beat: BeatSettings = Field(default_factory=BeatSettings)

    @model_validator(mode="before")
    @classmethod
    def _health_check_interval(cls, data: Any) -> Any:
        """``monitoring.health_check_interval_seconds`` (when set) is the interval of every check without its own."""
        if not isinstance(data, Mapping):
            return data
        monitoring = data.get("monitoring")
        interval = monitoring.get("health_check_interval_seconds") if isinstance(monitoring, Mapping) else None
        if interval is None:
            return data
        try:
            seconds = positive_seconds(interval)
        except ValueError:
            return data  # reported once, at monitoring.health_check_interval_seconds
        return {**data, "health_checks": with_default_interval(data.get("health_checks"), seconds)}

    @model_validator(mode="after")
    def _fallback_channels_configured(self) -> Settings:
        """Every channel named by ``trader.fallback_channels`` has its settings in this configuration."""
        for name in self.trader.fallback_channels:
            channel = self.notifications.for_channel(name)
            if not channel.is_configured():
                raise ValueError(f"trader.fallback_channels names {name!r}, but notifications.{name} is not "
                                 f"configured in this (the trader's) configuration: set its "
                                 f"{' and '.join(channel.missing())}")
            if channel.enabled is False:
                raise ValueError(f"trader.fallback_channels names {name!r}, but notifications.{name}.enabled "
                                 "is false")
        return self

    @model_validator(mode="after")
    def _routes_name_known_destinations(self) -> Settings:
        """Every destination a route or an escalation step names is configured (``telegram:ops`` needs
        ``notifications.telegram.destinations.ops``)."""
        named = [(f"alerts.routes[{i}].destinations", name) for i, route in enumerate(self.alerts.routes)
                 for name in route.destinations]
        for path, name in [*named, *self.alerts.escalation_destinations()]:
            if not self.notifications.has_destination(name):
                raise ValueError(f"{path} names {name!r}, which notifications does "
                                 f"not define (known: {', '.join(self.notifications.destination_names())})")
        return self

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data with every secret masked."""
        data = self.model_dump(mode="json", by_alias=True)
        data["redis"]["url"] = mask_url(self.redis.url)
        return data
