"""Beat's scheduler: several ``celery beat`` processes, exactly one schedules, a standby takes over.

celery-redbeat keeps the schedule (each entry's last run) and a lock in Redis: the beat holding the
lock schedules and renews it every tick (at least every ``beat.poll_seconds``); the others wait,
trying the lock every ``poll_seconds``. A beat killed with -9 stops renewing, its lock expires after
``lock_timeout_seconds`` (a Redis TTL: the Redis clock) and a standby takes over within
``beat.failover_seconds``, continuing from the last runs stored in Redis (no burst, no gap longer
than the failover). A beat stopped cleanly releases the lock at once. Before, every beat kept its own
schedule file: two beats sent every task twice as often (issue 15).

What this subclass adds to ``RedBeatScheduler``:

- the schedule runs on the Redis clock: the app's ``now()`` is offset by Redis-minus-local, read at
  every tick, so a standby whose host clock is off continues the active beat's cadence (RedBeat
  stores ``last_run_at`` from the holder's clock);
- every tick of the holder stamps ``monitoring:stamps`` (``beat`` = Redis time, ``beat_holder``), what
  the dead-man's switch and the ``beat_down`` rule read;
- the lock is only ever taken in ``tick`` without blocking (``_holds_lock``): RedBeat's own ``beat_init``
  handler, which blocks until the lock is free, is disconnected, so a standby ticks (and stops cleanly,
  as ``run --beat-thread`` needs) instead of hanging in start-up;
- Redis trouble never ends the process: a tick that cannot reach Redis is retried after
  ``REDIS_RETRY_SECONDS``; a lock lost meanwhile (it expired during an outage, another beat holds it now)
  sends this beat back to standby instead of scheduling beside the new holder.

The max-age stamps of every entry (beat.py, clock.py) are unchanged: RedBeat sends through the app.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any, cast

import redis
from celery.signals import beat_init
from redbeat import RedBeatScheduler
from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, acquire_distributed_beat_lock, get_redis
from redis.exceptions import LockError

from graphwiz_monitoring.config import Settings, mask_url
from graphwiz_monitoring.state import KeySpace
from graphwiz_monitoring.state.stamps import BEAT, BEAT_HOLDER
from graphwiz_monitoring.state.store import redis_client

log = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 1.0  # a tick that could not reach Redis is tried again this soon (back within a second)


def beat_client(settings: Settings) -> redis.Redis:
    """The Redis client of the scheduler (RedBeat wants redis-py itself: Lua scripts, locks, decoded replies),
    Sentinel-aware like every other client."""
    return cast(redis.Redis, redis_client(settings.redis))


# One way to take the lock: ours, in tick() and never blocking (module docstring).
beat_init.disconnect(acquire_distributed_beat_lock)


class GraphwizScheduler(RedBeatScheduler):
    """RedBeat on the Redis clock, stamping its ticks, surviving Redis outages (see the module docstring)."""

    lock: Any = None  # redis-py's Lock while this beat holds it (RedBeat's attribute)

    def __init__(self, app: Any, **kwargs: Any) -> None:
        settings: Settings = app.graphwiz_settings
        self._settings, self._keys = settings, KeySpace(settings.redis.namespace)
        self._holder = f"{socket.gethostname()}:{os.getpid()}"
        self._set_up = False
        self._redis_down = False
        app.redbeat_redis = beat_client(settings)  # RedBeat's get_redis() returns it
        super().__init__(app, **kwargs)

    def setup_schedule(self) -> None:
        try:
            self._sync_clock()
            super().setup_schedule()
        except redis.RedisError as exc:  # Redis down at start: set up at the first tick that reaches it
            log.warning("beat: schedule not stored yet, Redis unreachable (%s)", type(exc).__name__)
            return
        self._set_up = True

    def _sync_clock(self) -> float:
        """Read the Redis time; from now on the app's ``now()`` is on the Redis clock."""
        seconds, micros = get_redis(self.app).time()
        redis_now = int(seconds) + int(micros) / 1_000_000
        self.app.clock_offset = redis_now - time.time()
        return redis_now

    def _holds_lock(self) -> bool:
        if self.lock is not None:
            return True  # renewed by RedBeat's tick; LockError there if it was lost
        client = get_redis(self.app)
        lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval)
        lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)  # as RedBeat's own acquire does
        if not lock.acquire(blocking=False):
            return False
        log.info("beat: Acquired lock")
        self.lock = lock
        return True

    def tick(self, min: Any = min, **kwargs: Any) -> float:
        try:
            redis_now = self._sync_clock()
            if self._redis_down:
                log.info("beat: Redis reachable again")
                self._redis_down = False
            if not self._set_up:
                self.setup_schedule()
            if not self._holds_lock():
                return self.max_interval  # standby
            get_redis(self.app).hset(self._keys.monitoring_stamps,
                                     mapping={BEAT: repr(redis_now), BEAT_HOLDER: self._holder})
            return float(super().tick(min=min, **kwargs))
        except LockError:
            log.warning("beat: lock lost (it expired while this beat could not renew it); trying it again")
            self.lock = None
            return 0.0  # the next tick at once: it takes the lock back, or stands by if another beat has it
        except redis.RedisError as exc:
            wait = min(self.max_interval, REDIS_RETRY_SECONDS)
            # One warning per outage, not one a second
            (log.debug if self._redis_down else log.warning)(
                "beat: Redis unreachable (%s); retrying every %.1fs", type(exc).__name__, wait)
            self._redis_down = True
            return wait

    @property
    def info(self) -> str:
        """Beat's banner: RedBeat's own parses the URL with kombu, which a ``sentinel://a;sentinel://b`` list breaks."""
        return (f"       . redis -> {mask_url(self._settings.redis.url)}\n"
                f"       . lock -> `{self.lock_key}` ({self.lock_timeout}s)")

    def close(self) -> None:
        try:
            super().close()  # releases the lock: a standby takes over at its next poll
        except redis.RedisError as exc:
            log.warning("beat: lock not released (%s); it expires by itself", type(exc).__name__)
