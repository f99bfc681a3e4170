"""Liveness stamps: when each part of the pipeline last did its work, on the Redis clock.

One hash (``KeySpace.monitoring_stamps``), one field per fact, each the Redis time it last happened:
the active beat's tick (celery/scheduler.py, with ``beat_holder``), a periodic rule evaluation
(workers/rules.py), a dead-man's-switch ping (celery/heartbeat.py), a notification dead-lettered
(alerting/delivery.py). The snapshot's ``monitoring`` section (metrics/pipeline.py) turns them into
ages, which the self-monitoring rules, the exporter and the dead-man's switch judge.
"""

from __future__ import annotations

from graphwiz_monitoring.state.keys import KeySpace
from graphwiz_monitoring.state.store import Store

BEAT = "beat"
BEAT_HOLDER = "beat_holder"  # host:pid of the beat that ticked last (not a time)
RULES = "rules"
HEARTBEAT = "heartbeat"
NOTIFY_DEAD_LETTERED = "notify_dead_lettered"
TIMES = (BEAT, RULES, HEARTBEAT, NOTIFY_DEAD_LETTERED)


def stamp(store: Store, keys: KeySpace, *facts: str) -> float:
    """Record that ``facts`` happened now (Redis clock, one round trip); returns that time."""
    return float(store.run_script("stamp_now", [keys.monitoring_stamps], list(facts)))


def read_stamps(store: Store, keys: KeySpace) -> dict[str, str]:
    return dict(store.r.hgetall(keys.monitoring_stamps) or {})
