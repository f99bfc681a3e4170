"""Notification channels: one module each, an explicit registry (``registry``) refusing duplicates."""

from __future__ import annotations

from .base import FIRING, KINDS, RESOLVED, Channel
from .registry import ChannelRegistry, ChannelRegistryError, registry

__all__ = ["FIRING", "KINDS", "RESOLVED", "Channel", "ChannelRegistry", "ChannelRegistryError", "registry"]
