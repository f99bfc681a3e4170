"""Health settings: scheduled checks and their defaults, active probes, recovery and circuit breakers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, model_validator

from graphwiz_monitoring.config.fields import PositiveSeconds, StrictModel
from graphwiz_monitoring.vocabulary import RecoveryAction


def _recovery(value: Any) -> list[RecoveryAction]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"must be a list of recovery actions, got {value!r}")
    out = []
    for v in value:
        try:
            out.append(RecoveryAction(str(v).strip().lower()))
        except ValueError:
            raise ValueError(f"unknown recovery action, expected one of {[a.value for a in RecoveryAction]}, got {v!r}") from None
    return out


Recovery = Annotated[list[RecoveryAction], BeforeValidator(_recovery)]


class HealthCheckSettings(StrictModel):
    """One scheduled check; ``thresholds`` keys are fixed per check (see DEFAULT_CHECKS)."""

    enabled: bool = True
    interval_seconds: PositiveSeconds
    recovery: Recovery = Field(default_factory=list)
    thresholds: dict[str, float] = Field(default_factory=dict)


# name: (interval seconds, recovery actions in order, default thresholds). The intervals are the description's;
# monitoring.health_check_interval_seconds, when set, replaces them for every check that sets none itself.
DEFAULT_CHECKS: dict[str, tuple[float, list[str], dict[str, float]]] = {
    "exchange_connectivity": (30, ["reconnect", "notify_admin"], {}),
    "neo4j_connectivity": (60, ["reconnect", "notify_admin"], {}),
    "api_rate_limits": (10, ["scale_down", "pause_trading"], {"healthy_above": 50, "degraded_above": 10}),
    "system_resources": (60, ["clear_cache", "notify_admin"], {"cpu_percent": 90, "memory_percent": 90, "disk_percent": 90}),
    "disk_space": (300, ["clear_cache", "notify_admin"], {"degraded_percent": 80, "unhealthy_percent": 90, "critical_percent": 95}),
    "agent_health": (60, ["restart"], {}),
    "portfolio_health": (30, ["pause_trading", "close_positions"], {"max_drawdown": 0.15, "max_leverage": 3, "max_positions": 20}),
    "database_locks": (60, ["clear_cache"], {"max_active_transactions": 10}),
}


def with_default_interval(health_checks: Any, interval: float) -> Any:
    """``health_checks`` data (raw, before validation) in which every check that sets no ``interval_seconds``
    of its own gets ``interval`` (``monitoring.health_check_interval_seconds``); anything malformed is left
    as it is, for validation to report at its own key path."""
    section = {} if health_checks is None else health_checks
    if not isinstance(section, Mapping):
        return health_checks
    given = section.get("checks") or {}
    if not isinstance(given, Mapping):
        return health_checks
    checks = dict(given)
    for name in DEFAULT_CHECKS:
        own = checks.get(name) or {}
        if isinstance(own, Mapping) and "interval_seconds" not in own:
            checks[name] = {**own, "interval_seconds": interval}
    return {**section, "checks": checks}


class Neo4jProbeSettings(StrictModel):
    uri: str | None = None  # bolt://host:7687
    user: str = "neo4j"
    password: SecretStr | None = None


class ProbeSettings(StrictModel):
    """Active probes a worker runs itself; unset means the check relies on trader reports only."""

    exchanges: dict[str, str] = Field(default_factory=dict)  # name -> status URL (HTTP GET, 2xx = up)
    neo4j: Neo4jProbeSettings = Field(default_factory=Neo4jProbeSettings)
    timeout_seconds: PositiveSeconds = 5


class HealthChecksSettings(StrictModel):
    checks: dict[str, HealthCheckSettings] = Field(default_factory=dict)
    probes: ProbeSettings = Field(default_factory=ProbeSettings)
    # A trader that has not reported for this long is itself unhealthy.
    trader_stale_seconds: PositiveSeconds = 30

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        given = data.get("checks") or {}
        if not isinstance(given, Mapping):
            return data
        unknown = sorted(set(given) - set(DEFAULT_CHECKS))
        if unknown:
            raise ValueError(f"unknown health check(s) {unknown}; known: {sorted(DEFAULT_CHECKS)}")
        merged: dict[str, Any] = {}
        for name, (interval, recovery, thresholds) in DEFAULT_CHECKS.items():
            override = given.get(name) or {}
            if not isinstance(override, Mapping):  # left as is: validation reports it at its key path
                merged[name] = override
                continue
            own = override.get("thresholds") or {}
            extra = set(own) - set(thresholds) if isinstance(own, Mapping) else set()
            if extra:
                raise ValueError(f"checks.{name}.thresholds: unknown key(s) {sorted(extra)}; known: {sorted(thresholds)}")
            merged[name] = {
                "interval_seconds": interval,
                "recovery": recovery,
                **override,
                "thresholds": {**thresholds, **own} if isinstance(own, Mapping) else own,
            }
        data["checks"] = merged
        return data


class RecoverySettings(StrictModel):
    enabled: bool = True
    dry_run: bool = False  # log what would run, run nothing
    ack_timeout_seconds: PositiveSeconds = 10  # no acknowledgement from the trader within this is a failure
    allow_close_positions: bool = False  # destructive: off unless enabled on purpose
    close_positions_window_seconds: PositiveSeconds = 3600  # at most once per window
    scale_down_factor: float = Field(0.5, gt=0, lt=1)  # passed to trading_engine.scale_down(factor)


class CircuitBreakerSettings(StrictModel):
    failure_threshold: int = Field(3, gt=0)
    recovery_timeout_seconds: PositiveSeconds = 300
    # The half-open trial is a lease: a trial whose holder crashed is handed out again after this.
    trial_timeout_seconds: PositiveSeconds = 60
