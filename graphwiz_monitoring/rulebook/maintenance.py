"""Maintenance windows, pure: when one is open and which alerts it covers.

A window is either recurring (a cron expression, a duration and a time zone: "every Sunday 02:00
Europe/Berlin for 2 h") or one-off (``starts_at``/``ends_at``). An alert whose labels match a window's
matchers (all alerts when there are none) while the window is open is *in maintenance*: its episode
exists and is shown, but nothing is notified. Times are epoch seconds; callers judge them against
the Redis clock, so every process agrees on whether a window is open. Cron arithmetic is croniter's
(time zones and daylight-saving changes included); configuration is validated by
``check_window_settings`` with a message naming the problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from graphwiz_monitoring.errors import RuleError
from graphwiz_monitoring.rulebook.silences import matches, parse_duration, parse_time

if TYPE_CHECKING:
    from graphwiz_monitoring.config.maintenance import MaintenanceWindowSettings

MAX_WINDOW_SECONDS = 7 * 86_400


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; RuleError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError(f"unknown time zone {name!r} (an IANA name such as UTC or Europe/Berlin)") from None


def cron_runs(expression: str, start: datetime) -> Any:
    """croniter's iterator over ``expression``'s times from ``start`` (its time zone applies). Imported on
    first use: a process with no window or digest never pays for croniter (~2 MiB)."""
    from croniter import croniter

    return croniter(expression, start)


def check_cron(expression: str) -> str:
    from croniter import croniter

    if not croniter.is_valid(expression):
        raise RuleError(f"not a cron expression (minute hour day month weekday, e.g. '0 2 * * 0'), "
                        f"got {expression!r}")
    return expression


@dataclass(frozen=True)
class MaintenanceWindow:
    name: str
    matchers: dict[str, str] = field(default_factory=dict)
    cron: str | None = None
    duration_seconds: float = 0.0
    timezone: str = "UTC"
    starts_at: float | None = None
    ends_at: float | None = None
    reason: str = ""

    def covers(self, labels: Mapping[str, str]) -> bool:
        return matches(self.matchers, labels)

    def open_at(self, now: float) -> tuple[float, float] | None:
        """(start, end) of the occurrence open at ``now``, or None."""
        if self.cron is None:
            assert self.starts_at is not None and self.ends_at is not None
            return (self.starts_at, self.ends_at) if self.starts_at <= now < self.ends_at else None
        # The latest start at or before now (croniter's get_prev is strictly before its base).
        base = datetime.fromtimestamp(now + 1e-3, zone(self.timezone))
        start = cron_runs(self.cron, base).get_prev(datetime).timestamp()
        end = start + self.duration_seconds
        return (start, end) if start <= now < end else None

    def upcoming(self, now: float, count: int = 3) -> list[tuple[float, float]]:
        """The occurrence open now (if any) and the next ones, at most ``count`` in all."""
        found = [span] if (span := self.open_at(now)) else []
        if self.cron is None:
            assert self.starts_at is not None and self.ends_at is not None
            if not found and self.starts_at > now:
                found.append((self.starts_at, self.ends_at))
            return found
        runs = cron_runs(self.cron, datetime.fromtimestamp(now, zone(self.timezone)))
        while len(found) < count:
            start = runs.get_next(datetime).timestamp()
            found.append((start, start + self.duration_seconds))
        return found


def window_from_settings(name: str, spec: MaintenanceWindowSettings) -> MaintenanceWindow:
    """A validated window from one ``alerts.maintenance.<name>`` entry (RuleError names the problem)."""
    matchers = {str(k): str(v) for k, v in spec.matchers.items()}
    zone(spec.timezone)
    if spec.cron is not None:
        if spec.starts_at is not None or spec.ends_at is not None:
            raise RuleError("give either cron + duration (recurring) or starts_at + ends_at (one-off), not both")
        if spec.duration is None:
            raise RuleError("a recurring window needs a duration (e.g. 30m, 2h)")
        seconds = parse_duration(str(spec.duration))
        if seconds > MAX_WINDOW_SECONDS:
            raise RuleError(f"a window may last at most 7 days, got {spec.duration!r}")
        return MaintenanceWindow(name=name, matchers=matchers, cron=check_cron(spec.cron), duration_seconds=seconds,
                                 timezone=spec.timezone, reason=spec.reason)
    if spec.starts_at is None or spec.ends_at is None:
        raise RuleError("a window needs cron + duration (recurring) or starts_at + ends_at (one-off)")
    if spec.duration is not None:
        raise RuleError("a one-off window takes starts_at + ends_at; duration is for cron windows")
    local = zone(spec.timezone)
    starts, ends = (_local_time(value, local) for value in (spec.starts_at, spec.ends_at))
    if ends <= starts:
        raise RuleError(f"ends_at {spec.ends_at!r} must be after starts_at {spec.starts_at!r}")
    return MaintenanceWindow(name=name, matchers=matchers, starts_at=starts, ends_at=ends, timezone=spec.timezone,
                             reason=spec.reason)


def _local_time(value: str, local: ZoneInfo) -> float:
    """An ISO time without an offset is read in the window's time zone (the way people write them)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return parse_time(value)  # RuleError with the accepted forms
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=local)).timestamp()


def open_window(windows: Iterable[MaintenanceWindow], labels: Mapping[str, str],
                now: float) -> tuple[MaintenanceWindow, float] | None:
    """The first window open at ``now`` covering ``labels``, with the end of that occurrence."""
    for window in windows:
        if window.covers(labels) and (span := window.open_at(now)) is not None:
            return window, span[1]
    return None


def iso(when: float, zone_name: str = "UTC") -> str:
    return datetime.fromtimestamp(when, UTC).astimezone(zone(zone_name)).isoformat(timespec="minutes")
