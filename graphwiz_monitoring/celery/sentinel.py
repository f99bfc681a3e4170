"""Redis Sentinel for the broker: kombu's Sentinel transport under the guards of hardening.py.

A ``sentinel://`` ``redis.url`` (config/redis_url.py) gets this transport: every new channel (the first,
and each after a failover, when the consumer or producer reconnects) asks the sentinels where the master
is, and the guards stay what they are for every other URL form (malformed items dropped, dead-worker
requeue, lost-pop recovery). ``sentinel_transport_options`` gives kombu the master set's name and the
sentinels' own password.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as redis_transport

from graphwiz_monitoring.celery.hardening import GuardedChannel, GuardedRedisTransport


class _GuardedSentinelChannel(GuardedChannel, redis_transport.SentinelChannel):
    """The guarded channel over kombu's Sentinel channel: each new channel (after a failover, the consumer's
    reconnection) asks the sentinels for the master; the guards above stay the same."""

    def own_client(self) -> redis.Redis:
        # _connparams() names a sentinel here: the heartbeat must write to the master the sentinels know.
        channel_manager = getattr(self, "_sentinel_manager", None)
        pool = self._sentinel_managed_pool()
        self._sentinel_manager = channel_manager  # the new manager lives with the new client; the channel's stays
        return redis.Redis(connection_pool=pool)


class GuardedSentinelTransport(GuardedRedisTransport):
    """kombu's Sentinel transport (``sentinel://`` URLs), guarded the same way."""

    default_port = redis_transport.SentinelTransport.default_port  # type: ignore[assignment]
    Channel = _GuardedSentinelChannel


def sentinel_transport_options(master: str | None, password: str | None) -> dict[str, Any]:
    """broker_transport_options of a ``sentinel://`` URL: the master set's name and the sentinels' own password.

    The password is wrapped so that Celery's and kombu's reprs of the options (banners, ``inspect conf``,
    errors) never show it; redis-py sends the text itself.
    """
    options: dict[str, Any] = {"master_name": master}
    if password:
        options["sentinel_kwargs"] = {"password": _Secret(password)}
    return options


class _Secret(str):
    """A str whose repr and str are masked: what redis-py encodes is still the real text (str.encode)."""

    def __repr__(self) -> str:
        return "'**********'"

    def __str__(self) -> str:
        return "**********"
