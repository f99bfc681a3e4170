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
    username: str  # "@name" when the user has one, else the first name, else the user id

    @property
    def actor(self) -> str:
        """What the records say did it: ``telegram:<username or user id>``."""
        return f"telegram:{self.username.lstrip('@') or self.user_id}"

    @classmethod
    def of(cls, chat: dict[str, Any] | None, user: dict[str, Any] | None) -> Sender:
        user = user or {}
        name = f"@{user['username']}" if user.get("username") else str(user.get("first_name") or "")
        user_id = str(user.get("id", ""))
        return cls(str((chat or {}).get("id", "")), user_id, name or user_id)


def allowed(settings: TelegramSettings, sender: Sender) -> bool:
    chats, users = settings.allowed_chat_ids, settings.allowed_user_ids
    if not chats and not users:
        return False
    return (not chats or sender.chat_id in chats) and (not users or sender.user_id in users)
