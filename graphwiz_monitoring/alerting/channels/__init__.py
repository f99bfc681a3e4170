"""Notification channels: one module each, an explicit registry (``registry``) refusing duplicates."""

from __future__ import annotations

from graphwiz_monitoring.alerting.channels.base import Channel
from graphwiz_monitoring.alerting.channels.registry import ChannelRegistry, ChannelRegistryError, registry

__all__ = ["Channel", "ChannelRegistry", "ChannelRegistryError", "registry"]
