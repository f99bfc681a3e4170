"""Health check results and the recovery actions a failing check can ask for."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from graphwiz_monitoring.vocabulary import RecoveryAction

__all__ = ["HealthResult", "HealthStatus", "RecoveryAction"]


class HealthStatus(str, Enum):
    """Outcome of a health check, from best to worst; NOT_CONFIGURED and CIRCUIT_OPEN say the check did not judge."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    CRITICAL = "critical"
    NOT_CONFIGURED = "not_configured"
    CIRCUIT_OPEN = "circuit_open"

    @property
    def needs_recovery(self) -> bool:
        return self in (HealthStatus.UNHEALTHY, HealthStatus.CRITICAL)

    @property
    def severity_rank(self) -> int:
        """0 healthy .. 3 critical; -1 when the check did not judge (exported as a gauge)."""
        order = [HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY, HealthStatus.CRITICAL]
        return order.index(self) if self in order else -1


@dataclass
class HealthResult:
    """The result of one run of one health check."""

    name: str
    status: HealthStatus
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)
    recovery_attempted: bool = False
    recovery_successful: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthResult:
        data = dict(data)
        data["status"] = HealthStatus(data["status"])
        return cls(**data)
