"""The explicit registry of notification channels: name -> Channel class; duplicates are refused."""

from __future__ import annotations

from collections.abc import Iterator

from graphwiz_monitoring.alerting.channels.base import Channel
from graphwiz_monitoring.alerting.channels.discord import DiscordChannel
from graphwiz_monitoring.alerting.channels.email import EmailChannel
from graphwiz_monitoring.alerting.channels.log import LogChannel
from graphwiz_monitoring.alerting.channels.slack import SlackChannel
from graphwiz_monitoring.alerting.channels.telegram import TelegramChannel
from graphwiz_monitoring.alerting.channels.webhook import WebhookChannel
from graphwiz_monitoring.config import NotificationsSettings
from graphwiz_monitoring.errors import GraphwizError


class ChannelRegistryError(GraphwizError, LookupError):
    """Raised when a channel name is registered twice or is not registered."""


class ChannelRegistry:
    """Channels by name. ``register`` refuses a second class under the same name."""

    def __init__(self) -> None:
        self._channels: dict[str, type[Channel]] = {}

    def register(self, channel: type[Channel]) -> type[Channel]:
        name = channel.name
        if name in self._channels:
            raise ChannelRegistryError(
                f"channel {name!r} is already registered ({self._channels[name].__qualname__})")
        self._channels[name] = channel
        return channel

    def get(self, name: str) -> type[Channel]:
        try:
            return self._channels[name]
        except KeyError:
            raise ChannelRegistryError(f"no channel named {name!r}; known: {sorted(self._channels)}") from None

    def create(self, name: str, notifications: NotificationsSettings) -> Channel:
        """A channel instance built from its section of ``notifications``."""
        cls = self.get(name)
        return cls(getattr(notifications, name))

    def names(self) -> list[str]:
        return sorted(self._channels)

    def __contains__(self, name: object) -> bool:
        return name in self._channels

    def __iter__(self) -> Iterator[type[Channel]]:
        return iter(self._channels.values())


registry = ChannelRegistry()
for _channel in (DiscordChannel, SlackChannel, EmailChannel, TelegramChannel, WebhookChannel, LogChannel):
    registry.register(_channel)
