"""The exporter counts a queue's consumers from the workers' heartbeat entries, on the Redis clock:
an entry whose lapse time has passed (its worker died without withdrawing it) no longer counts."""

from __future__ import annotations

from graphwiz_monitoring.exporter.families import queue_consumer_counts
from graphwiz_monitoring.state import KeySpace


def test_only_entries_not_yet_lapsed_count(store) -> None:
    now = store.now()
    store.r.zadd(KeySpace.queue_consumers("ingest"), {"host:1:a": now + 10, "host:2:b": now - 1})
    store.r.zadd(KeySpace.queue_consumers("rules"), {"host:2:b": now - 1})
    counts = queue_consumer_counts(store, ["ingest", "rules", "notify.log"])
    assert counts == {"ingest": 1, "rules": 0, "notify.log": 0}
