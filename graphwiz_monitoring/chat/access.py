"""Who may use the bot: ``notifications.telegram.allowed_chat_ids`` and ``allowed_user_ids``.

Each list that is set must match: chat ids alone let everyone in those chats act (a private ops
group); user ids alone let those people act from any chat; both, only those people in those chats.
Neither set: nobody (the bot then only tells each visitor their ids, so setting it up is easy).
Anyone else gets a refusal, is logged, and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphwiz_monitoring.config import TelegramSettings


@dataclass(frozen=True)
class Sender:
    """Who sent an update and from where (ids as text, as the settings hold them)."""

    chat_id: str
    user_id: str
    handle: str = ""  # the Telegram username, without "@" ("" when the user has none)
    first_name: str = ""

    @property
    def actor(self) -> str:
        """What the records say did it: ``telegram:<username or user id>``."""
        return f"telegram:{self.handle or self.user_id}"

    @property
    def display(self) -> str:
        """How replies name the user: "@name", else the first name, else the id (user data: escape it)."""
        return f"@{self.handle}" if self.handle else self.first_name or self.user_id

    @classmethod
    def of(cls, chat: dict[str, Any] | None, user: dict[str, Any] | None) -> Sender:
        user = user or {}
        return cls(str((chat or {}).get("id", "")), str(user.get("id", "")), str(user.get("username") or ""),
                   str(user.get("first_name") or ""))


def allowed(settings: TelegramSettings, sender: Sender) -> bool:
    chats, users = settings.allowed_chat_ids, settings.allowed_user_ids
    if not chats and not users:
        return False
    return (not chats or sender.chat_id in chats) and (not users or sender.user_id in users)
