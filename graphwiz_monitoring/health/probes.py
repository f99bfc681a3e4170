"""Active probes a worker runs itself: exchange status URLs, Neo4j over Bolt, Redis, the worker host.

Latency is wall time measured with ``time.monotonic()`` around the whole exchange (the original
reported a response's content-length as "latency"). Probe results never contain a URL or a
password: a status URL may carry an API key, so errors are described by kind only.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil
import requests

from graphwiz_monitoring.config import Neo4jProbeSettings
from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.state import Store

NEO4J_MISSING_REASON = "neo4j driver not installed (pip install 'graphwiz-monitoring[neo4j]')"
MAX_ERROR_CHARS = 200
# Pseudo file systems never fill up in a way that matters for trading hosts.
IGNORED_FSTYPES = frozenset({"squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs", "iso9660"})
CPU_SAMPLE_SECONDS = 0.2


@dataclass
class ProbeResult:
    """``ok`` is None when the probe could not judge (not configured, driver missing)."""

    name: str
    ok: bool | None
    latency_seconds: float | None = None
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_CHARS]


def _http_error(exc: requests.RequestException, timeout: float) -> str:
    # requests' messages quote the URL (and so any key in it): name the kind of failure only.
    if isinstance(exc, requests.Timeout):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__


def probe_http(name: str, url: str, timeout: float) -> ProbeResult:
    """GET ``url``; up when the answer is 2xx within ``timeout`` seconds."""
    started = time.monotonic()
    try:
        with requests.get(url, timeout=timeout, allow_redirects=False, stream=True) as response:
            for _ in response.iter_content(chunk_size=65536):
                if time.monotonic() - started > timeout:
                    raise requests.Timeout()
            latency = time.monotonic() - started
            ok = 200 <= response.status_code < 300
            return ProbeResult(name, ok, latency, "" if ok else f"HTTP {response.status_code}",
                               {"status_code": response.status_code})
    except requests.RequestException as exc:
        return ProbeResult(name, False, time.monotonic() - started, _http_error(exc, timeout))


def probe_exchanges(urls: dict[str, str], timeout: float) -> dict[str, ProbeResult]:
    """Probe every configured exchange status URL concurrently."""
    if not urls:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool:
        futures = {name: pool.submit(probe_http, name, url, timeout) for name, url in urls.items()}
        return {name: f.result() for name, f in futures.items()}


def probe_neo4j(settings: Neo4jProbeSettings, timeout: float) -> ProbeResult:
    """Run ``RETURN 1`` over Bolt; not judged when no URI is configured or the driver is missing."""
    if not settings.uri:
        return ProbeResult("neo4j", None, error="no probes.neo4j.uri configured")
    try:
        import neo4j
    except ImportError:
        return ProbeResult("neo4j", None, error=NEO4J_MISSING_REASON)
    password = settings.password.get_secret_value() if settings.password else ""
    started = time.monotonic()
    try:
        driver = neo4j.GraphDatabase.driver(
            settings.uri, auth=(settings.user, password), connection_timeout=timeout,
            connection_acquisition_timeout=timeout, max_transaction_retry_time=0,
        )
        try:
            with driver.session() as session:
                value = session.run("RETURN 1 AS ok").single()
            ok = value is not None and value["ok"] == 1
        finally:
            driver.close()
    except Exception as exc:  # the driver raises many kinds (ServiceUnavailable, AuthError, ValueError, OSError)
        return ProbeResult("neo4j", False, time.monotonic() - started, _short(exc).replace(password or "\0", "***"))
    return ProbeResult("neo4j", ok, time.monotonic() - started, "" if ok else "RETURN 1 gave no row")


def probe_redis(store: Store) -> ProbeResult:
    started = time.monotonic()
    try:
        store.ping()
    except StateError as exc:
        return ProbeResult("redis", False, time.monotonic() - started, str(exc)[:MAX_ERROR_CHARS])
    return ProbeResult("redis", True, time.monotonic() - started)


def probe_disks() -> dict[str, float]:
    """Used percent per mount point of the worker host (real file systems only)."""
    usage: dict[str, float] = {}
    for part in psutil.disk_partitions(all=False):
        if part.fstype in IGNORED_FSTYPES or part.mountpoint in usage:
            continue
        try:
            usage[part.mountpoint] = float(psutil.disk_usage(part.mountpoint).percent)
        except OSError:  # vanished mount, permission: not a disk we can judge
            continue
    if not usage:  # containers may list nothing real: the root file system always counts
        try:
            usage["/"] = float(psutil.disk_usage("/").percent)
        except OSError:
            pass
    return usage


def probe_system() -> dict[str, Any]:
    """CPU, memory and fullest-disk percent of the worker host."""
    disks = probe_disks()
    return {
        "cpu_percent": float(psutil.cpu_percent(interval=CPU_SAMPLE_SECONDS)),
        "memory_percent": float(psutil.virtual_memory().percent),
        "disk_percent": max(disks.values()) if disks else None,
        "disks": disks,
    }
