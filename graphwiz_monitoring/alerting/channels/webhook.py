"""Generic webhook: a JSON document, signed with HMAC-SHA256 when a secret is set, custom headers.

Body: ``{title, message, severity, timestamp, metadata, labels, alert_id, rule, state, kind}``
(``timestamp``: when it fired, or when it resolved, ISO-8601 UTC). A grouped message (a storm,
alerting/grouping.py): ``{group: true, title, severity (the highest), kind, timestamp, rules, count,
alerts: [<one body as above per alert>]}``.

Signing (when ``secret`` is set)::

    X-Graphwiz-Timestamp: <unix seconds>
    X-Graphwiz-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp is inside the signed string, so a captured request cannot be replayed later with a
fresh timestamp; receivers reject signatures older than a tolerance (``verify_signature``, default
5 minutes) and may remember ``alert_id``+``kind`` to drop exact replays within it. Custom headers are
sent as configured but can never override the signature headers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from graphwiz_monitoring.alerting.channels.base import Channel
from graphwiz_monitoring.alerting.channels.http import fail_for_status, post, protect
from graphwiz_monitoring.alerting.channels.render import GroupView, View
from graphwiz_monitoring.alerting.models import Alert
from graphwiz_monitoring.config import WebhookSettings
from graphwiz_monitoring.vocabulary import NotificationKind

SIGNATURE_HEADER = "X-Graphwiz-Signature"
TIMESTAMP_HEADER = "X-Graphwiz-Timestamp"
SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE_SECONDS = 300.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(secret: str, body: bytes, headers: Mapping[str, str], *,
                     tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """For receivers: True when ``body`` was signed with ``secret`` within ``tolerance_seconds``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    signature = lowered.get(SIGNATURE_HEADER.lower(), "")
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    if age > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def build_payload(view: View) -> dict[str, Any]:
    alert = view.alert
    return {
        "title": alert.title,
        "message": alert.message,
        "severity": alert.severity.value,
        "timestamp": view.timestamp,
        "metadata": alert.metadata,
        "labels": alert.labels,
        "alert_id": alert.alert_id,
        "rule": alert.rule_name,
        "state": NotificationKind.STALE if view.stale else NotificationKind.RESOLVED if view.resolved
        else alert.state.value,
        "kind": view.kind,
    }


def build_group_payload(view: GroupView) -> dict[str, Any]:
    """A grouped message: ``group: true``, the headline, and ``alerts``: one single-alert body each."""
    return {"group": True, "title": view.headline, "severity": view.top_severity.value, "kind": view.kind,
            "timestamp": view.timestamp, "rules": view.rules, "count": len(view.items),
            "alerts": [build_payload(v) for v in view.views]}


class WebhookChannel(Channel):
    name = "webhook"
    settings_model = WebhookSettings

    def __init__(self, settings: WebhookSettings) -> None:
        super().__init__(settings)
        protect(self.secrets)

    def request(self, alert: Alert, kind: str, now: float | None = None) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers to send."""
        return self.signed(build_payload(View(alert, kind)), now)

    def signed(self, payload: dict[str, Any], now: float | None = None) -> tuple[bytes, dict[str, str]]:
        s = self.settings
        assert isinstance(s, WebhookSettings)
        body = json.dumps(payload, default=str, separators=(",", ":")).encode()
        headers = {name: value.get_secret_value() for name, value in s.headers.items()}
        headers["Content-Type"] = "application/json"
        for name in list(headers):
            if name.lower() in (SIGNATURE_HEADER.lower(), TIMESTAMP_HEADER.lower()):
                del headers[name]
        if s.secret is not None and s.secret.get_secret_value():
            timestamp = str(int(time.time() if now is None else now))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(s.secret.get_secret_value(), timestamp, body)
        return body, headers

    def send(self, alert: Alert, kind: str) -> None:
        self._post(*self.request(alert, kind))

    def send_group(self, items: list[tuple[Alert, str]]) -> None:
        self._post(*self.signed(build_group_payload(GroupView(items))))

    def _post(self, body: bytes, headers: dict[str, str]) -> None:
        s = self.settings
        assert isinstance(s, WebhookSettings) and s.url is not None
        response = post(self.name, s.url.get_secret_value(), data=body, headers=headers, timeout=s.timeout_seconds)
        if 200 <= response.status_code < 300:
            return
        raise fail_for_status(self.name, response, secrets=self.secrets)
