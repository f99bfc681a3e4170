"""The explicit channel registry: six channels, duplicates refused, built from their settings sections."""

from __future__ import annotations

import pytest

from graphwiz_monitoring.alerting.channels import ChannelRegistry, ChannelRegistryError, registry
from graphwiz_monitoring.alerting.channels.discord import DiscordChannel
from graphwiz_monitoring.alerting.channels.log import LogChannel
from graphwiz_monitoring.alerting.models import AlertChannel
from graphwiz_monitoring.config import NotificationsSettings, SlackSettings


def test_every_alert_channel_is_registered_once():
    assert registry.names() == sorted(c.value for c in AlertChannel)
    for cls in registry:
        assert cls.settings_model.__name__.lower().startswith(cls.name)


def test_duplicate_name_is_refused():
    reg = ChannelRegistry()
    reg.register(DiscordChannel)

    class Other(DiscordChannel):
        pass

    with pytest.raises(ChannelRegistryError, match="already registered"):
        reg.register(Other)
    assert reg.get("discord") is DiscordChannel


def test_unknown_name_is_an_error_listing_known_ones():
    with pytest.raises(ChannelRegistryError, match="known:"):
        registry.get("pager")


def test_create_uses_the_channel_section_and_checks_its_type():
    notifications = NotificationsSettings.model_validate({"log": {"level": "ERROR"}})
    channel = registry.create("log", notifications)
    assert isinstance(channel, LogChannel) and channel.settings.level == "ERROR"
    with pytest.raises(TypeError):
        DiscordChannel(SlackSettings())


def test_default_rate_limits_are_the_apis_published_ones():
    limits = {cls.name: cls.default_rate_limit() for cls in registry}
    assert (limits["discord"].count, limits["discord"].per_seconds, limits["discord"].burst) == (30, 60, 5)
    assert (limits["slack"].count, limits["slack"].per_seconds) == (1, 1)
    assert (limits["telegram"].count, limits["telegram"].per_seconds, limits["telegram"].burst) == (20, 60, 1)
    assert limits["log"] is None


def test_secrets_are_collected_and_redacted():
    notifications = NotificationsSettings.model_validate({
        "discord": {"webhook_url": "https://discord.com/api/webhooks/123/tok-abcdef"},
        "webhook": {"url": "https://h.example/x", "secret": "hmac-key", "headers": {"Authorization": "Bearer zzzz"}},
    })
    discord = registry.create("discord", notifications)
    assert "tok-abcdef" in discord.secrets and "/api/webhooks/123/tok-abcdef" in discord.secrets
    assert discord.redact("POST /api/webhooks/123/tok-abcdef failed") == "POST *** failed"
    webhook = registry.create("webhook", notifications)
    assert webhook.redact("hmac-key Bearer zzzz") == "*** ***"
