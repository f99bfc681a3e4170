"""Pause or resume trading by hand: the one path the CLI (`trading pause|resume`) and the Telegram bot share.

Set the persistent flag (pause.py), then ask every live trader to pause or resume its engine over the
control stream (commands.py) and wait for each one's answer. The caller renders the outcome: every
live trader's, by identity, so nobody mistakes "the flag is set" for "every engine stopped".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.health.commands import (
    RESUME_TRADING,
    Command,
    FanOut,
    ask_traders,
    live_window_seconds,
)
from graphwiz_monitoring.health.pause import set_trading_paused
from graphwiz_monitoring.state import KeySpace, Store

PAUSE_TRADING = "pause_trading"


@dataclass
class TradingChange:
    """The flag as set, and each live trader's answer (``fan`` is None when the traders were not asked)."""

    paused: bool
    status: dict[str, Any]
    fan: FanOut | None
    window_seconds: float

    @property
    def confirmed(self) -> bool:
        return self.fan is not None and self.fan.confirmed

    def unconfirmed(self) -> list[str]:
        """Live traders that did not answer ``succeeded``."""
        if self.fan is None:
            return []
        return [i for i, o in self.fan.outcomes().items() if i in self.fan.expected and o["outcome"] != "succeeded"]


def change_trading(settings: Settings, store: Store, keys: KeySpace, *, paused: bool, by: str, reason: str = "",
                   wait: float, command_prefix: str = "cli") -> TradingChange:
    """Set (``paused``) or clear the flag and, unless ``wait`` <= 0, ask every live trader to follow."""
    status = set_trading_paused(store, keys, paused, reason=reason if paused else "resumed", by=by)
    window = live_window_seconds(settings)
    if wait <= 0:
        return TradingChange(paused, status, None, window)
    action, params = (PAUSE_TRADING, {"reason": reason, "by": by}) if paused else (RESUME_TRADING, {"by": by})
    command = Command(id=f"{command_prefix}-{uuid.uuid4().hex}", action=action, params=params, ttl_ms=int(wait * 1000))
    return TradingChange(paused, status, ask_traders(store, keys, command, timeout=wait, window_seconds=window), window)
