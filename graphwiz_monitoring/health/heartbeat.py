"""The dead-man's switch: ping ``monitoring.heartbeat_url`` only while the whole pipeline is alive.

Beat schedules ``workers.notify.heartbeat`` every ``monitoring.heartbeat_interval_seconds`` on the
``notify.log`` queue, stale after one interval (max-age on the Redis clock), so a ping is itself proof
that beat ticks, Redis answers and a notify worker takes tasks. Before pinging, the task reads the
pipeline's liveness facts (metrics/pipeline.py: beat's last tick, the last periodic rule evaluation,
live consumers of ingest and of every notify queue in use) and pings only when none is wrong. When
anything stops, the pings stop, and the outside service (Healthchecks.io, Uptime Kuma push, ...)
alerts after its own grace time. The URL is a secret: it is never logged, nor put in task arguments
or errors (the HTTP stack's log lines are redacted, alerting/channels/http.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from graphwiz_monitoring.alerting.channels.base import secret_values
from graphwiz_monitoring.alerting.channels.http import protect, request
from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import DeliveryFailed
from graphwiz_monitoring.metrics.pipeline import heartbeat_problems, read_section
from graphwiz_monitoring.state import KeySpace, Store, stamps

log = logging.getLogger(__name__)

MAX_TIMEOUT_SECONDS = 10.0
TIMEOUT_FRACTION = 0.4  # of the interval: below the task's soft time limit (60 %, celery/beat.py)


@dataclass
class HeartbeatResult:
    pinged: bool
    problems: list[str] = field(default_factory=list)
    status: int | None = None

    def summary(self) -> dict[str, object]:
        return {"pinged": self.pinged, "problems": self.problems, "status": self.status}


def heartbeat_url(settings: Settings) -> str | None:
    secret = settings.monitoring.heartbeat_url
    return (secret.get_secret_value() or None) if secret is not None else None


def send_heartbeat(store: Store, keys: KeySpace, settings: Settings) -> HeartbeatResult:
    """Ping the URL when the pipeline is alive end to end; otherwise say (in the log) what is not."""
    url = heartbeat_url(settings)
    if url is None:
        return HeartbeatResult(False, ["monitoring.heartbeat_url is not set"])
    problems = heartbeat_problems(read_section(store, keys), settings)
    if problems:
        log.warning("dead-man's switch: not pinging: %s", "; ".join(problems))
        return HeartbeatResult(False, problems)
    protect(secret_values(settings.monitoring))  # urllib3 logs the path alone: its parts are redacted too
    interval = settings.monitoring.heartbeat_interval_seconds
    try:
        response = request("GET", "heartbeat", url, timeout=min(MAX_TIMEOUT_SECONDS, interval * TIMEOUT_FRACTION))
    except DeliveryFailed as exc:  # its reason names no URL
        log.warning("dead-man's switch: ping failed: %s", exc)
        return HeartbeatResult(False, [str(exc)])
    if response.status_code >= 400:
        log.warning("dead-man's switch: ping answered HTTP %d", response.status_code)
        return HeartbeatResult(False, [f"HTTP {response.status_code}"], response.status_code)
    stamps.stamp(store, keys, stamps.HEARTBEAT)
    return HeartbeatResult(True, status=response.status_code)
