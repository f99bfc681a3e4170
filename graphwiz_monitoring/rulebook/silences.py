"""Silence and inhibition matching, pure: what a silence is, when it is in force, what it mutes.

Storage (runtime silences in Redis) lives in alerting/silences.py; the settings schema validates
``alerts.silences`` entries with ``check_silence_settings``. Times are epoch seconds; callers judge
them against the Redis clock.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from graphwiz_monitoring.errors import RuleError
from graphwiz_monitoring.vocabulary import AlertSeverity

if TYPE_CHECKING:
    from graphwiz_monitoring.config import InhibitSettings, Settings, SilenceSettings

MAX_SILENCE_SECONDS = 366 * 24 * 3600
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: Any, *, now: float | None = None) -> float:
    """Epoch seconds from an ISO-8601 string (naive = UTC), an epoch number, or ``"now"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "now":
            return time.time() if now is None else now
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            pass
        else:
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    raise RuleError(f"not an ISO-8601 time (e.g. 2026-01-31T22:00:00Z), got {value!r}")


def parse_duration(value: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``2h``, ``1d``, ``1w``."""
    m = _DURATION.match(str(value))
    if not m or float(m.group(1)) <= 0:
        raise RuleError(f"not a duration (e.g. 30m, 2h, 1d), got {value!r}")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def alert_labels(rule: str, severity: AlertSeverity | str, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels silences and inhibition match against."""
    sev = severity.value if isinstance(severity, AlertSeverity) else str(severity).lower()
    return {**labels, "rule": rule, "alertname": rule, "severity": sev}


def matches(matchers: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(fnmatchcase(str(labels.get(k, "")), str(v)) for k, v in matchers.items())


@dataclass
class Silence:
    matchers: dict[str, str]
    ends_at: float
    starts_at: float = field(default_factory=time.time)
    author: str = ""
    reason: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    created_at: float = field(default_factory=time.time)
    source: str = "runtime"  # "runtime" (Redis) or "config" (monitoring.yaml)

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, labels: Mapping[str, str]) -> bool:
        return matches(self.matchers, labels)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validated_matchers(matchers: Mapping[str, str], starts_at: float, ends_at: float) -> dict[str, str]:
    if not matchers:
        raise RuleError("a silence needs at least one matcher (label=value), e.g. rule=high_cpu")
    if ends_at <= starts_at:
        raise RuleError("a silence must end after it starts")
    if ends_at - starts_at > MAX_SILENCE_SECONDS:
        raise RuleError("a silence may last at most a year")
    return {str(k): str(v) for k, v in matchers.items()}


def check_silence_settings(spec: SilenceSettings) -> None:
    """Config-time validation of one ``alerts.silences`` entry (an already ended one is harmless)."""
    ends = parse_time(spec.ends_at)
    if not spec.matchers:
        raise RuleError("a silence needs at least one matcher (label=value), e.g. rule=high_cpu")
    if spec.starts_at and parse_time(spec.starts_at) >= ends:
        raise RuleError("a silence must end after it starts")


def config_silences(settings: Settings) -> list[Silence]:
    """``alerts.silences`` as Silence objects with stable ids (``cfg-...``)."""
    out = []
    for spec in settings.alerts.silences:
        digest = hashlib.sha1(json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:12]
        starts = parse_time(spec.starts_at) if spec.starts_at else 0.0
        out.append(Silence(matchers=dict(spec.matchers), starts_at=starts, ends_at=parse_time(spec.ends_at),
                           author=spec.author, reason=spec.reason, id=f"cfg-{digest}", created_at=starts,
                           source="config"))
    return out


def muting_silence(silences: Iterable[Silence], labels: Mapping[str, str], now: float) -> Silence | None:
    return next((s for s in silences if s.active(now) and s.mutes(labels)), None)


def inhibited(target: Mapping[str, str], sources: Iterable[tuple[str, Mapping[str, str]]],
              rules: Sequence[InhibitSettings], self_key: str = "") -> bool:
    """Whether an active source alert (``(key, labels)``, not the target itself) inhibits ``target``."""
    sources = [s for s in sources if s[0] != self_key]
    for rule in rules:
        if rule.target_rules and target.get("rule") not in rule.target_rules:
            continue
        if not matches(rule.target, target):
            continue
        for _, source in sources:
            if matches(rule.source, source) and all(
                    source.get(label) is not None and source.get(label) == target.get(label) for label in rule.equal):
                return True
    return False
