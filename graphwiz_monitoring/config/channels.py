"""Notification channel settings: one model per channel, with its rate limit and delivery retries."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator

from graphwiz_monitoring.config.fields import Port, PositiveSeconds, StrictModel
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
    min_repeat_seconds: float = Field(900, ge=0)  # a slow channel: at most one repeat per 15 min

    def is_configured(self) -> bool:
        return bool(self.smtp_server and self.from_ and self.to)


class TelegramSettings(ChannelSettings):
    bot_token: SecretStr | None = None
    chat_id: str | None = None
    api_base: str = "https://api.telegram.org"
    # Telegram: about 1 msg/s per chat and 20/min per group.
    rate_limit: RateLimit | None = RateLimit(count=20, per_seconds=60, burst=1)
    # The control bot (chat/, docs/ALERTS.md "Telegram bot"): it answers only these chats and users (each
    # list that is set must match); with neither set, `run` does not start it and alerts carry no buttons.
    allowed_chat_ids: list[str] = Field(default_factory=list)
    allowed_user_ids: list[str] = Field(default_factory=list)
    poll_timeout_seconds: int = Field(30, ge=1, le=50)  # getUpdates long-poll wait
    # A command older than this when the bot reads it (the bot was down) is not executed.
    command_max_age_seconds: PositiveSeconds = 300

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat_id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("allowed_chat_ids", "allowed_user_ids", mode="before")
    @classmethod
    def _ids_text(cls, value: Any) -> Any:
        if isinstance(value, (int, str)):
            value = [value]
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value] \
            if isinstance(value, list) else value

    def is_configured(self) -> bool:
        return bool(self.bot_token and self.bot_token.get_secret_value() and self.chat_id)

    @property
    def bot_configured(self) -> bool:
        """A bot token and someone allowed to use the bot: `run` starts it, alerts carry its buttons."""
        return bool(self.bot_token and self.bot_token.get_secret_value()
                    and (self.allowed_chat_ids or self.allowed_user_ids))


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


class NotificationsSettings(StrictModel):
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    def for_channel(self, channel: AlertChannel | str) -> ChannelSettings:
        return getattr(self, AlertChannel.parse(channel).value)
