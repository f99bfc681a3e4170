"""The one exception hierarchy of graphwiz-monitoring: every error the library raises is a GraphwizError."""

from __future__ import annotations


class GraphwizError(Exception):
    """Root of every error raised by graphwiz-monitoring."""


class ConfigError(GraphwizError, ValueError):
    """Raised when the configuration is invalid; ``problems`` lists every problem with its key path."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} configuration problem(s){where}:\n{lines}")


class StateError(GraphwizError):
    """Raised when the shared Redis state cannot be reached or answers with an error."""


class ListenError(GraphwizError):
    """Raised when a server of ours cannot listen on its address; ``errno`` is the socket error's
    (``errno.EADDRINUSE``: something else already serves that port)."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        self.errno = errno
        super().__init__(message)


class ValidationError(GraphwizError, ValueError):
    """Raised when a record (trade, prediction, portfolio, ...) is malformed; names the field and value."""


class BackpressureError(GraphwizError, RuntimeError):
    """Raised by ``record_*`` when the trader's client refuses a record: the broker is unreachable, memory
    holds ``trader.buffer_max_records`` and the journal is at ``trader.journal_max_bytes`` (or cannot be
    written). The record was not accepted; records accepted before are kept and delivered."""


class DeliveryFailed(GraphwizError):
    """Raised by a notification channel when a send did not succeed.

    ``retryable`` says whether trying again may help (network errors, 5xx, 429);
    ``retry_after`` is the delay in seconds the remote side asked for, if any.
    """

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(reason)


class RuleError(GraphwizError, ValueError):
    """Raised when an alert rule or its expression/template is invalid."""


class RecoveryError(GraphwizError):
    """Raised when a recovery action cannot be carried out."""


class PrometheusQueryError(GraphwizError):
    """Raised when the Prometheus HTTP API is unreachable or rejects a query."""


class DashboardError(GraphwizError, ValueError):
    """Raised when a dashboard, panel or PromQL expression is built wrongly (e.g. rate() over a gauge)."""


class AlertNotFoundError(GraphwizError, ValueError):
    """Raised when an alert id names no active alert (unknown, expired, or resolved); the message names the id."""
