"""Notification channel settings: one model per channel, with its rate limit and delivery retries."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from graphwiz_monitoring.config.fields import Port, PositiveSeconds, StrictModel
from graphwiz_monitoring.config.routing import check_destination_name, parse_destination
from graphwiz_monitoring.vocabulary import AlertChannel


class RateLimit(StrictModel):
    """``count`` sends per ``per_seconds`` on average, cluster-wide (token bucket in Redis).

    The bucket holds ``burst`` tokens (default: ``count``), so any window of W seconds sees at most
    ``burst + count * W / per_seconds`` sends; ``burst: 1`` spaces sends evenly.
    """

    count: int = Field(gt=0)
    per_seconds: PositiveSeconds
    burst: int | None = Field(None, gt=0)


class ChannelSettings(StrictModel):
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
    # An alert's repeat notifications (docs/ALERTS.md) reach this channel at most this often: a repeat
    # due sooner after the last notification this channel got is skipped. 0: every repeat.
    min_repeat_seconds: float = Field(0, ge=0)
    # Named destinations of this channel type (docs/ALERTS.md "Routing"): each entry sets only what differs
    # (a chat_id, a webhook URL) and inherits every other key of this section; the section itself stays
    # the default destination. Each subclass narrows the value type to itself.
    destinations: dict[str, Any] = Field(default_factory=dict)

    def is_configured(self) -> bool:
        return True

    @model_validator(mode="after")
    def _inherit_destinations(self) -> ChannelSettings:
        """Each named destination = this section with the destination's own keys over it."""
        merged: dict[str, Any] = {}
        for name, own in self.destinations.items():
            check_destination_name(name)
            if not isinstance(own, type(self)):
                raise ValueError(f"destinations.{name}: expected the keys of this channel, got {own!r}")
            if own.destinations:
                raise ValueError(f"destinations.{name}: a destination cannot have destinations of its own")
            merged[name] = self.model_copy(update={**{k: getattr(own, k) for k in own.model_fields_set},
                                                   "destinations": {}})
        self.__dict__["destinations"] = merged  # no re-validation: the copies are validated models already
        return self

    @property
    def active(self) -> bool:
        return self.is_configured() if self.enabled is None else (self.enabled and self.is_configured())


class DiscordSettings(ChannelSettings):
    destinations: dict[str, DiscordSettings] = Field(default_factory=dict)
    webhook_url: SecretStr | None = None
    # Discord: about 5 requests / 2 s per webhook, 30 / min per channel.
    rate_limit: RateLimit | None = RateLimit(count=30, per_seconds=60, burst=5)

    def is_configured(self) -> bool:
        return bool(self.webhook_url and self.webhook_url.get_secret_value())


class SlackSettings(ChannelSettings):
    destinations: dict[str, SlackSettings] = Field(default_factory=dict)
    webhook_url: SecretStr | None = None
    rate_limit: RateLimit | None = RateLimit(count=1, per_seconds=1)  # Slack: 1 msg/s per webhook

    def is_configured(self) -> bool:
        return bool(self.webhook_url and self.webhook_url.get_secret_value())


class EmailSettings(ChannelSettings):
    destinations: dict[str, EmailSettings] = Field(default_factory=dict)
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
    min_repeat_seconds: float = Field(900, ge=0)  # a slow channel: at most one repeat per 15 min

    def is_configured(self) -> bool:
        return bool(self.smtp_server and self.from_ and self.to)


class TelegramSettings(ChannelSettings):
    destinations: dict[str, TelegramSettings] = Field(default_factory=dict)
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
    destinations: dict[str, WebhookSettings] = Field(default_factory=dict)
    url: SecretStr | None = None
    secret: SecretStr | None = None  # HMAC-SHA256 signing key
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    rate_limit: RateLimit | None = RateLimit(count=10, per_seconds=1)

    def is_configured(self) -> bool:
        return bool(self.url and self.url.get_secret_value())


class LogSettings(ChannelSettings):
    destinations: dict[str, LogSettings] = Field(default_factory=dict)
    enabled: bool | None = True
    level: str = "WARNING"
    rate_limit: RateLimit | None = None

    def is_configured(self) -> bool:
        return True


class NotificationsSettings(StrictModel):
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    def for_channel(self, channel: AlertChannel | str) -> ChannelSettings:
        return getattr(self, AlertChannel.parse(channel).value)

    def destination(self, name: Any) -> ChannelSettings:
        """The settings of a destination (``telegram`` or ``telegram:ops``); ValueError when unknown."""
        channel, own = parse_destination(name)
        section = self.for_channel(channel)
        if own is None:
            return section
        try:
            return section.destinations[own]
        except KeyError:
            raise ValueError(f"unknown destination {channel.value}:{own}: notifications.{channel.value}.destinations "
                             f"has {sorted(section.destinations) or 'none'}") from None

    def has_destination(self, name: Any) -> bool:
        try:
            self.destination(name)
        except ValueError:
            return False
        return True

    def destination_names(self) -> list[str]:
        """Every destination this configuration names: each channel type, then its named destinations."""
        out = []
        for channel in AlertChannel:
            out.append(channel.value)
            out += [f"{channel.value}:{n}" for n in self.for_channel(channel).destinations]
        return out
