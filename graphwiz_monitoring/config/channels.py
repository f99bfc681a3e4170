"""Notification channel settings: one model per channel, with its rate limit and delivery retries."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from graphwiz_monitoring.config.fields import Port, PositiveSeconds, StrictModel
from graphwiz_monitoring.config.masking import VALUE_FREE_ERROR
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


def _blank(value: Any) -> bool:
    """No usable value: unset, empty or only spaces (a secret too), or a list that is empty or holds a blank."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, (list, tuple)):
        return not value or any(_blank(v) for v in value)
    return value is None or not str(value).strip()


class ChannelSettings(StrictModel):
    # The fields (attribute names) this channel cannot send without; is_configured() and the check below use them.
    required: ClassVar[tuple[str, ...]] = ()

    enabled: bool | None = None  # None: enabled when the channel's required fields are set; True: they must be
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

    @classmethod
    def channel_name(cls) -> str:
        return cls.__name__.removesuffix("Settings").lower()

    @model_validator(mode="after")
    def _required_when_enabled(self) -> ChannelSettings:
        """``enabled: true`` with a required field blank or left out: one error at each such field's key path.

        A ValidationError raised here keeps its own locations (below this section's), which a field
        validator could not give a field left out; the error type is value-free, so a blank secret is
        named but never shown.
        """
        if self.enabled is True and (missing := self.missing()):
            error = PydanticCustomError(VALUE_FREE_ERROR, "required when {channel} is enabled",
                                        {"channel": self.channel_name()})
            raise ValidationError.from_exception_data(type(self).__name__, [
                InitErrorDetails(type=error, loc=(name,), input=None) for name in missing])
        return self

    def missing(self) -> list[str]:
        """Required fields that are blank, as the file names them (``from``, not ``from_``)."""
        return [type(self).model_fields[f].alias or f for f in self.required if _blank(getattr(self, f))]

    def is_configured(self) -> bool:
        return not self.missing()

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

    def why_inactive(self) -> str | None:
        """Why this channel cannot send, in the file's key paths; None when it can."""
        where = f"notifications.{self.channel_name()}"
        if self.enabled is False:
            return f"{where}.enabled is false"
        missing = self.missing()
        if not missing:
            return None
        return f"{', '.join(f'{where}.{m}' for m in missing)} {'is' if len(missing) == 1 else 'are'} not set"


class DiscordSettings(ChannelSettings):
    required = ("webhook_url",)
    destinations: dict[str, DiscordSettings] = Field(default_factory=dict)
    webhook_url: SecretStr | None = None
    # Discord: about 5 requests / 2 s per webhook, 30 / min per channel.
    rate_limit: RateLimit | None = RateLimit(count=30, per_seconds=60, burst=5)


class SlackSettings(ChannelSettings):
    required = ("webhook_url",)
    destinations: dict[str, SlackSettings] = Field(default_factory=dict)
    webhook_url: SecretStr | None = None
    rate_limit: RateLimit | None = RateLimit(count=1, per_seconds=1)  # Slack: 1 msg/s per webhook


class EmailSettings(ChannelSettings):
    required = ("smtp_server", "from_", "to")
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


class TelegramSettings(ChannelSettings):
    required = ("bot_token", "chat_id")
    destinations: dict[str, TelegramSettings] = Field(default_factory=dict)
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

    @property
    def bot_configured(self) -> bool:
        """A bot token and someone allowed to use the bot: `run` starts it, alerts carry its buttons."""
        return bool(self.bot_token and self.bot_token.get_secret_value()
                    and (self.allowed_chat_ids or self.allowed_user_ids))


class WebhookSettings(ChannelSettings):
    required = ("url",)
    destinations: dict[str, WebhookSettings] = Field(default_factory=dict)
    url: SecretStr | None = None
    secret: SecretStr | None = None  # HMAC-SHA256 signing key
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    rate_limit: RateLimit | None = RateLimit(count=10, per_seconds=1)


class LogSettings(ChannelSettings):
    destinations: dict[str, LogSettings] = Field(default_factory=dict)
    enabled: bool | None = True
    level: str = "WARNING"
    rate_limit: RateLimit | None = None


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
