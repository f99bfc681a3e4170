"""``graphwiz_trader.monitoring``: the import path of the original description, the same public API
as ``graphwiz_monitoring`` (``from graphwiz_trader.monitoring import create_monitor`` works as written).

``graphwiz_trader`` itself is a namespace portion (no ``__init__.py``): a trading bot whose own
package is called ``graphwiz_trader`` keeps it, and this path is then its own to define (README).
"""

from __future__ import annotations

from typing import Any

import graphwiz_monitoring

__all__ = graphwiz_monitoring.__all__


def __getattr__(name: str) -> Any:
    return getattr(graphwiz_monitoring, name)  # lazy, as in graphwiz_monitoring: no Celery import here


def __dir__() -> list[str]:
    return sorted(__all__)
