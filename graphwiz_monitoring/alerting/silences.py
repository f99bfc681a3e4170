"""What mutes alerts: silences (config and runtime, in Redis) and inhibition rules.

A silence mutes every alert whose labels match all its matchers (shell-style patterns, ``*`` and
``?``) between ``starts_at`` and ``ends_at``, judged on the Redis clock: a worker whose own clock is
hours ahead or minutes behind sees the same silences in force as every other process. A runtime
silence is one Redis key that expires at its end (``silence_add.lua``): only that expiry, or
``silence remove``, ends it; no reader deletes one. Matchable labels are the alert's labels plus ``rule``
(alias ``alertname``) and ``severity``. A muted breach creates no alert and sends nothing; an alert
already firing stays active (not resolved) while muted, and its resolution is not notified.

Inhibition (``alerts.inhibit``): while an alert matching ``source`` is active, alerts matching
``target`` (and ``target_rules`` when given) whose ``equal`` labels have the same values are muted,
e.g. ``exchange_disconnect`` for binance mutes ``high_latency``/``rate_limit`` for binance.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from ..errors import RuleError
from ..state import KeySpace, Store
from .models import Alert, AlertSeverity

if TYPE_CHECKING:
    from ..config import InhibitSettings, Settings, SilenceSettings

log = logging.getLogger(__name__)

SCRIPT = "silence_add"
MAX_SILENCES = 1000
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
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
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


def _validated(matchers: Mapping[str, str], starts_at: float, ends_at: float) -> dict[str, str]:
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


def add_silence(store: Store, keys: KeySpace, matchers: Mapping[str, str], *, ends_at: float | None = None,
                starts_at: float | None = None, duration_seconds: float | None = None, author: str = "",
                reason: str = "") -> Silence:
    """Store a runtime silence (seen by every process at its next evaluation); its key expires at its end.

    Give ``ends_at`` or ``duration_seconds`` (from ``starts_at``). ``starts_at`` defaults to now on the
    Redis clock, as every time a silence is judged by: a duration is never measured on this host's clock.
    """
    if (ends_at is None) == (duration_seconds is None):
        raise RuleError("a silence needs either ends_at or duration_seconds")
    now = store.now()
    starts = now if starts_at is None else starts_at
    ends = starts + float(duration_seconds) if duration_seconds is not None else float(ends_at)  # type: ignore[arg-type]
    silence = Silence(matchers=_validated(matchers, starts, ends), starts_at=starts, ends_at=ends,
                      author=author[:200], reason=reason[:1000], created_at=now)
    _store_silence(store, keys, silence)
    return silence


def _store_silence(store: Store, keys: KeySpace, silence: Silence) -> None:
    outcome = store.run_script(SCRIPT, [keys.silence(silence.id), keys.silences_ends],
                               [silence.id, json.dumps(silence.to_dict()), repr(silence.ends_at), MAX_SILENCES])
    if outcome == "ended":
        raise RuleError(f"a silence must end in the future: ends_at {_iso(silence.ends_at)} has passed "
                        f"(Redis time)")
    if outcome == "full":
        raise RuleError(f"too many silences (at most {MAX_SILENCES}); remove some first")


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds")


def remove_silence(store: Store, keys: KeySpace, silence_id: str) -> bool:
    """End a runtime silence now; True when it existed."""
    if silence_id.startswith("cfg-"):
        raise RuleError(f"silence {silence_id} comes from alerts.silences in the config file; edit it there")
    pipe = store.r.pipeline(transaction=True)
    pipe.delete(keys.silence(silence_id))
    pipe.zrem(keys.silences_ends, silence_id)
    pipe.hdel(keys.silences, silence_id)  # a legacy entry not moved yet
    deleted, _, legacy = pipe.execute()
    return bool(deleted or legacy)


def list_silences(store: Store, keys: KeySpace, settings: Settings | None = None, *,
                  include_expired: bool = False, now: float | None = None) -> list[Silence]:
    """Runtime (Redis) and config silences not yet ended, soonest-ending first.

    Ended is judged on the Redis clock (``now`` stands for it in tests); a runtime silence that ended is
    gone already (its key expired), ``include_expired`` keeps the config ones that ended.
    """
    runtime, redis_now = _runtime(store, keys)
    now = redis_now if now is None else now
    found = runtime + (config_silences(settings) if settings is not None else [])
    if not include_expired:
        found = [s for s in found if s.ends_at > now]
    return sorted(found, key=lambda s: s.ends_at)


def active_silences(store: Store, keys: KeySpace, config: Iterable[Silence] = ()) -> tuple[list[Silence], float]:
    """The silences in force now (runtime and ``config``) and that now, both on the Redis clock.

    A host whose clock is ahead must not take a silence for ended, nor one behind a new one for not yet
    started: callers judge ``muting_silence(silences, labels, now)`` with the ``now`` returned here.
    """
    runtime, now = _runtime(store, keys)
    return [s for s in (*runtime, *config) if s.active(now)], now


def _runtime(store: Store, keys: KeySpace) -> tuple[list[Silence], float]:
    """The live runtime silences and the Redis time they were read at (one round trip, two with any)."""
    pipe = store.r.pipeline(transaction=False)
    pipe.time()
    pipe.zrange(keys.silences_ends, 0, -1, withscores=True)
    pipe.exists(keys.silences)
    (seconds, micros), ends, legacy = pipe.execute()
    now = int(seconds) + int(micros) / 1_000_000
    if legacy:
        _move_legacy(store, keys, now)
        return _runtime(store, keys)
    ids = [sid for sid, ends_at in ends if ends_at > now]
    found = [_parse(raw) for raw in (store.r.mget([keys.silence(sid) for sid in ids]) if ids else [])]
    return [s for s in found if s is not None], now  # None: expired between the two reads


def _parse(raw: str | None) -> Silence | None:
    try:
        return Silence(**json.loads(raw)) if raw else None
    except (TypeError, ValueError):
        return None


def _move_legacy(store: Store, keys: KeySpace, now: float) -> None:
    """Silences stored by an older version (one hash, purged by each reader's own clock) move to keys
    that expire on the Redis clock; ended ones are dropped."""
    for raw in (store.r.hgetall(keys.silences) or {}).values():
        silence = _parse(raw)
        if silence is not None and silence.ends_at > now:
            try:
                _store_silence(store, keys, silence)
            except RuleError as exc:
                log.warning("silence %s not kept: %s", silence.id, exc)
    store.r.delete(keys.silences)


def silence_alert(store: Store, keys: KeySpace, settings: Settings, *, alert_id: str, duration_seconds: float,
                  author: str = "", reason: str = "") -> Silence:
    """Silence what one alert is about (its rule and labels) from now on the Redis clock; LookupError when
    there is no such alert."""
    raw = store.r.get(keys.alert(alert_id))
    if raw is None:
        raise LookupError(alert_id)
    alert = Alert.from_dict(json.loads(raw))
    return add_silence(store, keys, {"rule": alert.rule_name, **alert.labels}, duration_seconds=duration_seconds,
                       author=author, reason=reason)


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
