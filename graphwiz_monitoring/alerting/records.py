"""Alert records: the one module that reads and writes an alert's JSON record (``KeySpace.alert``).

The Lua scripts that create or resolve an alert together with its lifecycle and outbox entry
(``alert_fire.lua``, ``alert_store.lua``) write the same record, through their KEYS. An alert's ack lives
beside it (alerting/acks.py, expiring on the Redis clock) and is read in the same round trip.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence

from graphwiz_monitoring.alerting import acks
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity
from graphwiz_monitoring.state import KeySpace, Store

log = logging.getLogger(__name__)


def _parse(alert_id: str, raw: str | None) -> Alert | None:
    if raw is None:
        return None
    try:
        return Alert.from_dict(json.loads(raw))
    except (ValueError, TypeError, KeyError):
        log.error("alert record %s is unreadable", alert_id)
        return None


def load_alert(store: Store, keys: KeySpace, alert_id: str) -> Alert | None:
    """The alert stored at ``KeySpace.alert(alert_id)``, or None (absent, expired or unreadable)."""
    return load_alerts(store, keys, [alert_id])[0]


def load_alerts(store: Store, keys: KeySpace, alert_ids: Sequence[str]) -> list[Alert | None]:
    """The records of ``alert_ids`` with their acks in one round trip, None where absent or unreadable."""
    if not alert_ids:
        return []
    pipe = store.r.pipeline(transaction=False)
    pipe.mget([keys.alert(i) for i in alert_ids])
    for i in alert_ids:
        pipe.hgetall(keys.alert_ack(i))
    raws, *ack_hashes = pipe.execute()
    alerts = [_parse(i, raw) for i, raw in zip(alert_ids, raws, strict=True)]
    return [acks.apply(a, acks.parse(h)) if a is not None else None
            for a, h in zip(alerts, ack_hashes, strict=True)]


def alert_exists(store: Store, keys: KeySpace, alert_id: str) -> bool:
    return bool(store.r.exists(keys.alert(alert_id)))


def save_alert(store: Store, keys: KeySpace, alert: Alert, *, ttl_seconds: float | None = None) -> None:
    """Write the record: with ``ttl_seconds`` a new one, else an update keeping the record's TTL."""
    text = json.dumps(alert.to_dict())
    if ttl_seconds is None:
        store.r.set(keys.alert(alert.alert_id), text, keepttl=True)
    else:
        store.r.set(keys.alert(alert.alert_id), text, ex=max(1, int(ttl_seconds)))


def active_ids_matching(store: Store, keys: KeySpace, ref: str) -> list[str]:
    """The active alert ids ``ref`` names: itself when active, else those starting with it (the CLI and the
    chat show the first characters); ids only, one HVALS, no record read."""
    ids = store.r.hvals(keys.alerts_active)
    if ref in ids:
        return [ref]
    return [i for i in ids if ref and i.startswith(ref)]


def get_active_alerts(store: Store, keys: KeySpace) -> list[Alert]:
    """Firing alerts, newest first (readable from any process)."""
    active = store.r.hgetall(keys.alerts_active)
    if not active:
        return []
    members, ids = list(active), list(active.values())
    alerts, stale = [], []
    for member, alert in zip(members, load_alerts(store, keys, ids), strict=True):
        if alert is None:
            stale.append(member)  # its record outlived retention (or is unreadable): nothing left to show
        else:
            alerts.append(alert)
    if stale:
        store.r.hdel(keys.alerts_active, *stale)
    return sorted(alerts, key=lambda a: a.created_at, reverse=True)


def get_alert_history(store: Store, keys: KeySpace, hours: float = 24,
                      severity: AlertSeverity | str | None = None) -> list[Alert]:
    """Alerts created in the last ``hours`` (newest first), optionally of one severity."""
    ids = store.r.zrevrangebyscore(keys.alerts_history, "+inf", time.time() - hours * 3600)
    if not ids:
        return []
    wanted = AlertSeverity.parse(severity) if severity is not None else None
    return [a for a in load_alerts(store, keys, ids) if a is not None and (wanted is None or a.severity is wanted)]
