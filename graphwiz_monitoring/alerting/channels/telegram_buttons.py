"""The inline buttons under a Telegram alert message, and their ``callback_data`` format.

The alert channel (telegram.py) attaches them; the control bot (chat/) reads a press back as a
``callback_query`` and acts on it. The format lives here, below both, so the two can never drift
apart. ``callback_data`` is at most 64 bytes: ``<action>:<alert id>`` (a 32-character hex id) fits.
Buttons are only attached when the bot is configured (``TelegramSettings.bot_configured``): without
a bot polling, a press would leave the user looking at a spinner.
"""

from __future__ import annotations

from typing import Any

ACK, SILENCE, PAUSE = "ack", "silence", "pause"
RESUME_CONFIRM, CANCEL = "resume", "cancel"  # the /resume confirmation (no alert id)
LABELS = {ACK: "Acknowledge", SILENCE: "Silence 1 h", PAUSE: "Pause trading"}
ALERT_ACTIONS = (ACK, SILENCE, PAUSE)
CALLBACK_DATA_MAX_BYTES = 64
SILENCE_BUTTON_SECONDS = 3600


def callback_data(action: str, alert_id: str = "") -> str:
    data = f"{action}:{alert_id}"
    if len(data.encode()) > CALLBACK_DATA_MAX_BYTES:
        raise ValueError(f"callback_data over {CALLBACK_DATA_MAX_BYTES} bytes: {data[:80]!r}")
    return data


def parse_callback_data(data: str) -> tuple[str, str]:
    """``(action, alert id)``; the action is "" for data this code never produced."""
    action, _, alert_id = (data or "").partition(":")
    known = (*ALERT_ACTIONS, RESUME_CONFIRM, CANCEL)
    return (action, alert_id) if action in known else ("", "")


def alert_keyboard(alert_id: str, without: tuple[str, ...] = ()) -> dict[str, Any]:
    """``reply_markup`` with one row of the alert actions (minus ``without``: already done)."""
    row = [{"text": LABELS[a], "callback_data": callback_data(a, alert_id)} for a in ALERT_ACTIONS if a not in without]
    return {"inline_keyboard": [row] if row else []}
