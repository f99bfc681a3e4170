"""The contract of a notification channel: name, settings model, rate limit, ``send()``.

A channel renders one alert for its API and sends it once; it never retries, sleeps or counts
(delivery.py does that for every channel alike). It reports a failed send by raising
``DeliveryFailed(reason, retryable=, retry_after=)`` whose reason never contains a secret: the
webhook URL, bot token or SMTP password are configuration, not diagnostics.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import SecretStr

from graphwiz_monitoring.alerting.models import Alert
from graphwiz_monitoring.config import ChannelSettings, RateLimit

REDACTED = "***"
# Shorter secrets are not redacted from text: replacing every "ab" would garble messages, and a
# two-character secret is not one worth protecting.
MIN_REDACTED_CHARS = 4


def secret_values(settings: Any) -> list[str]:
    """Every SecretStr value in a settings model (and the path/query of secret URLs), longest first."""
    found: set[str] = set()
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        for item in value.values() if isinstance(value, dict) else (value,):
            if not isinstance(item, SecretStr):
                continue
            text = item.get_secret_value()
            found.add(text)
            parts = urlsplit(text) if "://" in text else None
            if parts is not None:
                # A library may log only the path ("POST /api/webhooks/<id>/<token>").
                found.update({parts.path, parts.query, parts.path.rsplit("/", 1)[-1]})
    return sorted((s for s in found if len(s) >= MIN_REDACTED_CHARS), key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


class Channel(ABC):
    """One notification channel. Subclasses set ``name`` and ``settings_model`` and implement ``send``."""

    name: ClassVar[str]
    settings_model: ClassVar[type[ChannelSettings]]

    def __init__(self, settings: ChannelSettings) -> None:
        if not isinstance(settings, self.settings_model):
            raise TypeError(f"{self.name} channel needs {self.settings_model.__name__}, got {type(settings).__name__}")
        self.settings = settings
        self._secrets = secret_values(settings)

    @classmethod
    def default_rate_limit(cls) -> RateLimit | None:
        """The API's published limit (the settings model's default; see config/channels.py)."""
        return cls.settings_model.model_fields["rate_limit"].default

    @property
    def rate_limit(self) -> RateLimit | None:
        """The configured limit; None means unlimited."""
        return self.settings.rate_limit

    @property
    def secrets(self) -> list[str]:
        return list(self._secrets)

    def redact(self, text: str) -> str:
        """``text`` with every secret of this channel replaced (defence in depth for reasons and logs)."""
        return redact(text, self._secrets)

    @abstractmethod
    def send(self, alert: Alert, kind: str) -> None:
        """Send one notification; ``kind`` is "firing", "repeat-<n>" or "resolved[-<n>]". Raises DeliveryFailed."""

    @abstractmethod
    def send_group(self, items: list[tuple[Alert, str]]) -> None:
        """Send one grouped message listing several alerts of a storm (alerting/grouping.py), each with its
        kind (one kind base for all). Raises DeliveryFailed."""
