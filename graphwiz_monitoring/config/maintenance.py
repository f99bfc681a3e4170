"""Settings of maintenance windows (``alerts.maintenance``) and the scheduled digest (``alerts.digest``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from graphwiz_monitoring.config.fields import Channels, StrictModel
from graphwiz_monitoring.vocabulary import AlertChannel


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


class MaintenanceWindowSettings(StrictModel):
    """One window: ``cron`` + ``duration`` (recurring) or ``starts_at`` + ``ends_at`` (one-off), in ``timezone``.

    Alerts whose labels match ``matchers`` (every alert when empty) are shown "in maintenance" while the
    window is open and nothing about them is notified.
    """

    cron: str | None = None
    duration: str | None = None
    starts_at: str | None = None
    ends_at: str | None = None
    timezone: str = "UTC"
    matchers: dict[str, str] = Field(default_factory=dict)
    reason: str = ""

    _numbers_as_text = field_validator("duration", "starts_at", "ends_at", mode="before")(_text)

    @model_validator(mode="after")
    def _check(self) -> MaintenanceWindowSettings:
        from graphwiz_monitoring.rulebook.maintenance import window_from_settings

        window_from_settings("window", self)  # RuleError is a ValueError: reported with this window's key path
        return self


class DigestSettings(StrictModel):
    """A summary of the period sent on a cron schedule (in ``timezone``) to ``channels``."""

    cron: str = "0 8 * * *"
    timezone: str = "UTC"
    channels: Channels = Field(default_factory=lambda: [AlertChannel.LOG])
    # A digest missed (nothing ran at its time) is still sent this long after it was due; older ones are skipped.
    max_delay_seconds: float = Field(3600, gt=0)

    @model_validator(mode="after")
    def _check(self) -> DigestSettings:
        from graphwiz_monitoring.rulebook.maintenance import check_cron, zone

        check_cron(self.cron)
        zone(self.timezone)
        return self
