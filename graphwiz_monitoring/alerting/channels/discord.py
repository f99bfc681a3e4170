"""Discord webhook: one embed, coloured by severity, within Discord's limits, unable to ping anyone.

Discord answers 204 No Content on success (200 with a body only for ``?wait=true``); the original
implementation counted every real delivery as a failure. ``allowed_mentions: {"parse": []}`` makes
``@everyone``/``@here``/role mentions in alert data inert; Markdown specials are escaped so a rule
named ``my_rule`` does not turn italic. 429 answers carry ``Retry-After``, ``X-RateLimit-Reset-After``
and a JSON ``retry_after``; the longest is honoured.
"""

from __future__ import annotations

import re
from typing import Any

from graphwiz_monitoring.alerting.channels.base import Channel
from graphwiz_monitoring.alerting.channels.http import fail_for_status, json_or_none, post, protect
from graphwiz_monitoring.alerting.channels.render import GroupView, View, fit
from graphwiz_monitoring.alerting.models import Alert
from graphwiz_monitoring.config import DiscordSettings

# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
TITLE_MAX_CHARS = 256
DESCRIPTION_MAX_CHARS = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX_CHARS = 256
FIELD_VALUE_MAX_CHARS = 1024
FOOTER_MAX_CHARS = 2048
EMBED_TOTAL_MAX_CHARS = 6000
CONTENT_MAX_CHARS = 2000
EMPTY_FIELD = "\u200b"  # Discord rejects empty field values

_MARKDOWN = re.compile(r"([\\*_~`|\[\]>#])")


def escape_markdown(text: str) -> str:
    """Backslash-escape Discord Markdown so alert text shows literally."""
    return _MARKDOWN.sub(r"\\\1", text)


def _embed_size(embed: dict[str, Any]) -> int:
    size = len(embed.get("title", "")) + len(embed.get("description", "")) + len(embed["footer"]["text"])
    return size + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))


def build_embed(view: View) -> dict[str, Any]:
    """The embed for one notification, truncated field by field and then to the 6000-char total."""
    alert = view.alert
    fields = [
        {"name": fit(name, FIELD_NAME_MAX_CHARS, escape_markdown) or EMPTY_FIELD,
         "value": fit(value, FIELD_VALUE_MAX_CHARS, escape_markdown) or EMPTY_FIELD,
         "inline": True}
        for name, value in view.fields[:FIELDS_MAX]
    ]
    embed: dict[str, Any] = {
        "title": fit(view.headline, TITLE_MAX_CHARS, escape_markdown),
        "description": fit(alert.message, DESCRIPTION_MAX_CHARS, escape_markdown),
        "color": view.color,
        "fields": fields,
        "timestamp": view.timestamp,
        "footer": {"text": fit(f"{view.footer} | rule {alert.rule_name}", FOOTER_MAX_CHARS)},
    }
    overflow = _embed_size(embed) - EMBED_TOTAL_MAX_CHARS
    if overflow > 0:  # shorten the description first: title, fields and footer say what it is
        keep = max(0, len(embed["description"]) - overflow)
        embed["description"] = fit(alert.message, keep, escape_markdown) if keep else ""
    while _embed_size(embed) > EMBED_TOTAL_MAX_CHARS and embed["fields"]:
        embed["fields"].pop()
    return embed


def build_group_embed(view: GroupView) -> dict[str, Any]:
    """One embed for a grouped message: the headline, one line per alert in the description."""
    footer = fit(f"{view.footer} | rule {', '.join(view.rules)}", FOOTER_MAX_CHARS)
    title = fit(view.headline, TITLE_MAX_CHARS, escape_markdown)
    budget = min(DESCRIPTION_MAX_CHARS, EMBED_TOTAL_MAX_CHARS - len(title) - len(footer))
    return {"title": title, "description": "\n".join(view.lines(budget, escape_markdown)), "color": view.color,
            "timestamp": view.timestamp, "footer": {"text": footer}}


class DiscordChannel(Channel):
    name = "discord"
    settings_model = DiscordSettings

    def __init__(self, settings: DiscordSettings) -> None:
        super().__init__(settings)
        protect(self.secrets)

    def payload(self, alert: Alert, kind: str) -> dict[str, Any]:
        return {"embeds": [build_embed(View(alert, kind))], "allowed_mentions": {"parse": []}}

    def group_payload(self, items: list[tuple[Alert, str]]) -> dict[str, Any]:
        return {"embeds": [build_group_embed(GroupView(items))], "allowed_mentions": {"parse": []}}

    def send(self, alert: Alert, kind: str) -> None:
        self._post(self.payload(alert, kind))

    def send_group(self, items: list[tuple[Alert, str]]) -> None:
        self._post(self.group_payload(items))

    def _post(self, payload: dict[str, Any]) -> None:
        s = self.settings
        assert isinstance(s, DiscordSettings) and s.webhook_url is not None
        response = post(self.name, s.webhook_url.get_secret_value(), json_body=payload, timeout=s.timeout_seconds)
        if response.status_code in (200, 204):
            return
        body = json_or_none(response)
        body = body if isinstance(body, dict) else {}
        raise fail_for_status(self.name, response, detail=str(body.get("message") or ""),
                              body_retry_after=body.get("retry_after"), secrets=self.secrets)
