"""The pipeline's own health, as the snapshot's ``monitoring`` section: is the watcher itself working?

Read in the snapshot's first pipelined round trip (``queue_pipeline`` adds the commands, ``parse``
reads their replies), all on the Redis clock::

    monitoring  beat_age_seconds (since the active beat's last tick), beat_holder (its host:pid),
                rules_age_seconds (since the last periodic rule evaluation), heartbeat_age_seconds
                (since the dead-man's switch last pinged), notify_dead_lettered_age_seconds (since a
                notification was last dead-lettered), redis_used_memory_bytes, redis_maxmemory_bytes,
                redis_memory_percent (None without maxmemory), queues{queue: length, consumers}

An age is None when the fact never happened (a deployment without beat never fires ``beat_down``).
The self-monitoring built-in rules read it (rulebook/rules.py), the exporter exports it, and the
dead-man's switch (``heartbeat_problems``) pings only while none of its facts is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.state import KeySpace, Store, stamps
from graphwiz_monitoring.tasks import ALL_QUEUES, INGEST, LISTS_PER_QUEUE, notify_queue, pipe_queue_length
from graphwiz_monitoring.vocabulary import AlertChannel

SECTION = "monitoring"
# Commands queue_pipeline adds: stamps, memory, then per queue its lengths and its consumer count.
_FIXED_REPLIES = 2
# A rules stamp older than this many evaluation intervals means evaluation stopped (a busy worker
# may be late by an interval or two); never less than RULES_STALE_MIN_SECONDS.
RULES_STALE_INTERVALS = 3
RULES_STALE_MIN_SECONDS = 30.0


def queue_pipeline(pipe: Any, keys: KeySpace, redis_now: float, queues: Sequence[str] = ALL_QUEUES) -> None:
    """Add the section's reads to ``pipe`` (``parse`` takes its replies in the same order)."""
    pipe.hgetall(keys.monitoring_stamps)
    pipe.info("memory")
    for queue in queues:
        pipe_queue_length(pipe, queue)
        pipe.zcount(KeySpace.queue_consumers(queue), f"({redis_now}", "+inf")  # entries not lapsed yet


def replies_count(queues: Sequence[str] = ALL_QUEUES) -> int:
    return _FIXED_REPLIES + len(queues) * (LISTS_PER_QUEUE + 1)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse(replies: Sequence[Any], redis_now: float | None, queues: Sequence[str] = ALL_QUEUES) -> dict[str, Any]:
    """The ``monitoring`` section from the replies of ``queue_pipeline``."""
    stamped, memory = dict(replies[0] or {}), dict(replies[1] or {})

    def age(fact: str) -> float | None:
        at = _float(stamped.get(fact))
        return None if at is None or redis_now is None else max(0.0, redis_now - at)

    used, maximum = _float(memory.get("used_memory")), _float(memory.get("maxmemory"))
    per_queue, step = {}, LISTS_PER_QUEUE + 1
    for i, queue in enumerate(queues):
        chunk = replies[_FIXED_REPLIES + i * step:_FIXED_REPLIES + (i + 1) * step]
        per_queue[queue] = {"length": int(sum(chunk[:LISTS_PER_QUEUE])), "consumers": int(chunk[LISTS_PER_QUEUE])}
    return {
        "beat_age_seconds": age(stamps.BEAT),
        "beat_holder": stamped.get(stamps.BEAT_HOLDER),
        "rules_age_seconds": age(stamps.RULES),
        "heartbeat_age_seconds": age(stamps.HEARTBEAT),
        "notify_dead_lettered_age_seconds": age(stamps.NOTIFY_DEAD_LETTERED),
        "redis_used_memory_bytes": used,
        "redis_maxmemory_bytes": maximum,
        "redis_memory_percent": (used / maximum * 100) if used is not None and maximum else None,
        "queues": per_queue,
    }


def read_section(store: Store, keys: KeySpace, queues: Sequence[str] = ALL_QUEUES) -> dict[str, Any]:
    """The section on its own (two round trips: TIME, then the reads)."""
    redis_now = store.now()
    pipe = store.r.pipeline(transaction=False)
    queue_pipeline(pipe, keys, redis_now, queues)
    return parse(pipe.execute(), redis_now, queues)


def watched_queues(settings: Settings) -> list[str]:
    """The queues the dead-man's switch requires consumed: ingest and the notify queue of every channel
    that may be used (configured or log, the fallback every notification reaches)."""
    channels = [c.value for c in AlertChannel
                if c is not AlertChannel.LOG and settings.notifications.for_channel(c).active]
    return [INGEST, *(notify_queue(c) for c in channels), notify_queue(AlertChannel.LOG.value)]


def heartbeat_problems(section: Mapping[str, Any], settings: Settings) -> list[str]:
    """Why the pipeline is not alive end to end ([]: alive, ping). Names facts only, never a secret."""
    problems = []
    beat_age = section.get("beat_age_seconds")
    if beat_age is None or beat_age > settings.beat.failover_seconds:
        problems.append("beat is not ticking" if beat_age is None else f"beat last ticked {beat_age:.0f}s ago")
    rules_age = section.get("rules_age_seconds")
    rules_limit = max(RULES_STALE_MIN_SECONDS,
                      RULES_STALE_INTERVALS * settings.monitoring.rule_evaluation_interval_seconds)
    if rules_age is None or rules_age > rules_limit:
        problems.append("rules were never evaluated" if rules_age is None
                        else f"rules last evaluated {rules_age:.0f}s ago")
    queues = section.get("queues") or {}
    for queue in watched_queues(settings):
        state = queues.get(queue) or {}
        if not state.get("consumers"):
            problems.append(f"no live worker consumes {queue}"
                            + (f" ({state['length']} waiting)" if state.get("length") else ""))
    return problems
