"""Settings of the watcher's own availability: several beats with one active (``beat``)."""

from __future__ import annotations

from pydantic import Field

from graphwiz_monitoring.config.fields import StrictModel

# The active beat renews its lock at least this often per failover period, and the lock outlives a
# renewal this many times over; a standby polls this often: takeover <= lock + poll <= failover_seconds.
POLLS_PER_FAILOVER = 5
LOCK_FRACTION = 0.6


class BeatSettings(StrictModel):
    """Several ``celery beat`` processes may run (one per host); one holds the lock in Redis and schedules."""

    # A standby schedules at most this long after the active beat died (kill -9, host lost); a stopped
    # beat releases the lock, so its standby takes over at its next poll.
    failover_seconds: float = Field(30, ge=2, allow_inf_nan=False)

    @property
    def poll_seconds(self) -> float:
        """How often a standby tries the lock, and the longest the active beat sleeps between ticks."""
        return self.failover_seconds / POLLS_PER_FAILOVER

    @property
    def lock_timeout_seconds(self) -> int:
        """The lock's TTL (Redis clock), renewed every tick; whole seconds (celery-redbeat renews with int())."""
        return max(1, int(self.failover_seconds * LOCK_FRACTION))
