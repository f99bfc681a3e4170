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

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from graphwiz_monitoring.alerting.records import load_alert
from graphwiz_monitoring.errors import RuleError
from graphwiz_monitoring.state import KeySpace, Store

if TYPE_CHECKING:
    from graphwiz_monitoring.config import Settings

from graphwiz_monitoring.rulebook.silences import (
    MAX_SILENCE_SECONDS,
    Silence,
    alert_labels,
    check_silence_settings,
    config_silences,
    inhibited,
    matches,
    muting_silence,
    parse_duration,
    parse_time,
    validated_matchers,
)

__all__ = ["MAX_SILENCES", "MAX_SILENCE_SECONDS", "Silence", "active_silences", "add_silence", "alert_labels",
           "check_silence_settings", "config_silences", "inhibited", "list_silences", "matches", "muting_silence",
           "parse_duration", "parse_time", "remove_silence", "silence_alert"]

log = logging.getLogger(__name__)

SCRIPT = "silence_add"
MAX_SILENCES = 1000


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
    silence = Silence(matchers=validated_matchers(matchers, starts, ends), starts_at=starts, ends_at=ends,
                      author=author[:200], reason=reason[:1000], created_at=now)
    _store_silence(store, keys, silence)
    return silence


def _store_silence(store: Store, keys: KeySpace, silence: Silence) -> None:
    outcome = store.run_script(SCRIPT, [keys.silence(silence.id), keys.silences_ends],
                               [silence.id, json.dumps(silence.to_dict()), repr(silence.ends_at), MAX_SILENCES],
                               durable=True)
    if outcome == "ended":
        raise RuleError(f"a silence must end in the future: ends_at {_iso(silence.ends_at)} has passed "
                        f"(Redis time)")
    if outcome == "full":
        raise RuleError(f"too many silences (at most {MAX_SILENCES}); remove some first")


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")


def remove_silence(store: Store, keys: KeySpace, silence_id: str) -> bool:
    """End a runtime silence now; True when it existed."""
    if silence_id.startswith("cfg-"):
        raise RuleError(f"silence {silence_id} comes from alerts.silences in the config file; edit it there")
    pipe = store.r.pipeline(transaction=False)  # one connection, in order: a durable write (store.py)
    pipe.delete(keys.silence(silence_id))
    pipe.zrem(keys.silences_ends, silence_id)
    pipe.hdel(keys.silences, silence_id)  # a legacy entry not moved yet
    deleted, _, legacy = store.execute_durable(pipe)
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
    alert = load_alert(store, keys, alert_id)
    if alert is None:
        raise LookupError(alert_id)
    return add_silence(store, keys, {"rule": alert.rule_name, **alert.labels}, duration_seconds=duration_seconds,
                       author=author, reason=reason)
