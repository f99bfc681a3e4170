"""Slack incoming webhook: one attachment with colour, title, text, fields and "Severity: X" footer.

Slack's control characters are ``&``, ``<`` and ``>`` (``<!channel>`` pings, ``<url|text>`` links):
they are escaped in every piece of text. Success is 200 with body ``ok``; 429 carries Retry-After.
"""

from __future__ import annotations

from typing import Any

from graphwiz_monitoring.alerting.channels.base import Channel
from graphwiz_monitoring.alerting.channels.http import fail_for_status, post, protect
from graphwiz_monitoring.alerting.channels.render import GroupView, View, fit
from graphwiz_monitoring.alerting.models import Alert
from graphwiz_monitoring.config import SlackSettings

TITLE_MAX_CHARS = 250
TEXT_MAX_CHARS = 3000
FIELD_TITLE_MAX_CHARS = 150
FIELD_VALUE_MAX_CHARS = 1000
FIELDS_MAX = 25


def escape(text: str) -> str:
    """Slack's required escaping (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def hex_color(value: int) -> str:
    return f"#{value:06X}"


class SlackChannel(Channel):
    name = "slack"
    settings_model = SlackSettings

    def __init__(self, settings: SlackSettings) -> None:
        super().__init__(settings)
        protect(self.secrets)

    def payload(self, alert: Alert, kind: str) -> dict[str, Any]:
        view = View(alert, kind)
        title = fit(view.headline, TITLE_MAX_CHARS, escape)
        return {
            "attachments": [{
                "fallback": fit(view.subject, TITLE_MAX_CHARS, escape),
                "color": hex_color(view.color),
                "title": title,
                "text": fit(alert.message, TEXT_MAX_CHARS, escape),
                "fields": [
                    {"title": fit(name, FIELD_TITLE_MAX_CHARS, escape),
                     "value": fit(value, FIELD_VALUE_MAX_CHARS, escape), "short": True}
                    for name, value in view.fields[:FIELDS_MAX]
                ],
                "footer": view.footer,
                "ts": int(view.event_time),
            }],
        }

    def group_payload(self, items: list[tuple[Alert, str]]) -> dict[str, Any]:
        view = GroupView(items)
        return {
            "attachments": [{
                "fallback": fit(view.subject, TITLE_MAX_CHARS, escape),
                "color": hex_color(view.color),
                "title": fit(view.headline, TITLE_MAX_CHARS, escape),
                "text": "\n".join(view.lines(TEXT_MAX_CHARS, escape)),
                "footer": view.footer,
                "ts": int(view.event_time),
            }],
        }

    def send(self, alert: Alert, kind: str) -> None:
        self._post(self.payload(alert, kind))

    def send_group(self, items: list[tuple[Alert, str]]) -> None:
        self._post(self.group_payload(items))

    def _post(self, payload: dict[str, Any]) -> None:
        s = self.settings
        assert isinstance(s, SlackSettings) and s.webhook_url is not None
        response = post(self.name, s.webhook_url.get_secret_value(), json_body=payload, timeout=s.timeout_seconds)
        if response.status_code == 200:
            return
        raise fail_for_status(self.name, response, detail=response.text.strip()[:100], secrets=self.secrets)
