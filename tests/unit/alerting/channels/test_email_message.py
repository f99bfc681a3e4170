"""Email message: subject, multipart plain + HTML with every value escaped, no header injection."""

from __future__ import annotations

import smtplib
import ssl

import pytest

from graphwiz_monitoring.alerting.channels.email import EmailChannel, _classify
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity
from graphwiz_monitoring.config import EmailSettings
from graphwiz_monitoring.errors import DeliveryFailed

SETTINGS = EmailSettings.model_validate({"enabled": True, "smtp_server": "localhost", "from": "m@example.com",
                                         "to": ["a@example.com", "b@example.com"]})


def _alert(**kw) -> Alert:
    base = {"rule_name": "exchange_disconnect", "title": "Exchange down", "message": "binance unreachable",
            "severity": AlertSeverity.CRITICAL, "labels": {"exchange": "binance"}, "created_at": 1_700_000_000.0}
    return Alert(**{**base, **kw})


def test_headers_and_parts():
    msg = EmailChannel(SETTINGS).message(_alert(), "firing")
    assert msg["Subject"] == "[CRITICAL] Exchange down"
    assert msg["From"] == "m@example.com" and msg["To"] == "a@example.com, b@example.com"
    assert msg["X-Graphwiz-Kind"] == "firing"
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",)).get_content()
    assert "binance unreachable" in plain and "exchange: binance" in plain
    html = msg.get_body(("html",)).get_content()
    assert "<th" in html and "binance unreachable" in html and "#FF0000" in html


def test_resolved_subject_and_banner():
    msg = EmailChannel(SETTINGS).message(_alert(), "resolved")
    assert msg["Subject"] == "[RESOLVED] [CRITICAL] Exchange down"
    assert "RESOLVED</p>" in msg.get_body(("html",)).get_content()


def test_every_value_is_html_escaped_and_headers_cannot_be_injected():
    alert = _alert(title="<b>x</b>\r\nBcc: victim@example.com", message="<script>alert(1)</script> & \"q\"",
                   labels={"<k>": "<img src=x onerror=alert(1)>"})
    msg = EmailChannel(SETTINGS).message(alert, "firing")
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"] and msg["Subject"].startswith("[CRITICAL] <b>x</b> Bcc:")
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "<img" not in html and "<b>x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_password_is_never_sent_without_tls():
    plain = SETTINGS.model_copy(update={"use_tls": False, "use_ssl": False, "username": "u", "password": "pw-secret"})
    with pytest.raises(DeliveryFailed) as err:
        EmailChannel(plain).send(_alert(), "firing")
    assert not err.value.retryable and "pw-secret" not in str(err.value)


@pytest.mark.parametrize(("stage", "exc", "retryable", "text"), [
    ("starttls", smtplib.SMTPNotSupportedError(), False, "does not offer STARTTLS"),
    ("login", smtplib.SMTPAuthenticationError(535, b"bad credentials for u"), False, "authentication failed (SMTP 535)"),
    ("send", smtplib.SMTPSenderRefused(451, b"later", "m@x"), True, "send refused (SMTP 451)"),
    ("send", smtplib.SMTPDataError(554, b"spam"), False, "send refused (SMTP 554)"),
    ("send", smtplib.SMTPRecipientsRefused({"a@x": (550, b"no")}), False, "every recipient refused (550)"),
    ("send", smtplib.SMTPRecipientsRefused({"a@x": (450, b"busy")}), True, "every recipient refused (450)"),
    ("connect", ConnectionRefusedError(), True, "connection refused"),
    ("ehlo", TimeoutError(), True, "timed out during ehlo"),
    ("starttls", ssl.SSLCertVerificationError("self-signed"), False, "did not verify"),
    ("ehlo", smtplib.SMTPServerDisconnected("gone"), True, "disconnected during ehlo"),
])
def test_smtp_errors_are_classified_without_server_text(stage, exc, retryable, text):
    failure = _classify(stage, exc)
    assert failure.retryable is retryable and text in failure.reason
    assert "bad credentials" not in failure.reason and "spam" not in failure.reason
