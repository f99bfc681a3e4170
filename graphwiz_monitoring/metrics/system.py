"""Host metrics (psutil): sampled by every worker host (beat task) and by the trader's client thread.

Each host's latest sample lives in ``host:{host}:system`` (TTL ``retention.host_stale_seconds``) and
the ``hosts`` zset, so a host that stops reporting drops out instead of showing stale numbers.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import psutil

from graphwiz_monitoring.context import hostname
from graphwiz_monitoring.metrics.models import MAX_MAP_ENTRIES, SystemSample
from graphwiz_monitoring.state import KeySpace, Store

# Pseudo file systems never fill up in a way anyone must act on.
_SKIP_FSTYPES = frozenset({"squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs", "nsfs", "ramfs"})
_cpu_primed = False


def collect_host_sample(host: str | None = None) -> SystemSample:
    """CPU, memory, disk per mount, network counters per interface and load of this host."""
    global _cpu_primed
    if not _cpu_primed:  # psutil's first non-blocking reading is meaningless: measure a short interval once
        cpu = psutil.cpu_percent(interval=0.1)
        _cpu_primed = True
    else:
        cpu = psutil.cpu_percent(interval=None)
    mem = psutil.virtual_memory()
    disks: dict[str, float] = {}
    for part in psutil.disk_partitions(all=False):
        if part.fstype in _SKIP_FSTYPES or len(disks) >= MAX_MAP_ENTRIES:
            continue
        try:
            disks[part.mountpoint] = float(psutil.disk_usage(part.mountpoint).percent)
        except OSError:  # unmounted or unreadable mount: skip rather than fail the whole sample
            continue
    if not disks:
        try:
            disks["/"] = float(psutil.disk_usage("/").percent)
        except OSError:
            pass
    network: dict[str, dict[str, float]] = {}
    for name, counters in sorted(psutil.net_io_counters(pernic=True).items())[:MAX_MAP_ENTRIES]:
        network[name[:64]] = {"sent": float(counters.bytes_sent), "recv": float(counters.bytes_recv)}
    try:
        load1 = float(os.getloadavg()[0])
    except OSError:
        load1 = None
    return SystemSample.model_validate({
        "host": host or hostname(), "cpu_percent": float(cpu), "memory_percent": float(mem.percent),
        "memory_used_bytes": float(mem.used), "memory_available_bytes": float(mem.available),
        "memory_total_bytes": float(mem.total), "load1": load1, "disks": disks, "network": network,
        "timestamp": time.time(),
    })


def write_host_sample(store: Store, keys: KeySpace, sample: SystemSample, ttl_seconds: float) -> None:
    """Store a host's latest sample (newer than the stored one) and drop hosts silent for ``ttl_seconds``."""
    key = keys.host_system(sample.host)
    fields: dict[str, Any] = {
        "host": sample.host, "timestamp": repr(sample.timestamp),
        "disks": json.dumps(sample.disks), "network": json.dumps({k: v.wire() for k, v in sample.network.items()}),
    }
    for name in ("cpu_percent", "memory_percent", "memory_used_bytes", "memory_available_bytes",
                 "memory_total_bytes", "load1"):
        value = getattr(sample, name)
        if value is not None:
            fields[name] = repr(value)
    pipe = store.r.pipeline(transaction=False)
    pipe.hset(key, mapping=fields)
    pipe.expire(key, int(ttl_seconds))
    pipe.zadd(keys.hosts, {sample.host: sample.timestamp})
    pipe.zremrangebyscore(keys.hosts, "-inf", time.time() - ttl_seconds)
    pipe.execute()


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_host_fields(fields: dict[str, str]) -> dict[str, Any]:
    """A stored host hash back as the snapshot's per-host dict (missing values are None)."""
    out: dict[str, Any] = {name: _float(fields.get(name)) for name in (
        "cpu_percent", "memory_percent", "memory_used_bytes", "memory_available_bytes", "memory_total_bytes",
        "load1", "timestamp")}
    for name in ("disks", "network"):
        try:
            out[name] = json.loads(fields.get(name) or "null") or {}
        except ValueError:
            out[name] = {}
    return out
