"""Email over SMTP: STARTTLS (``use_tls``) or implicit TLS (``use_ssl``), login, plain text + HTML.

Every value in the HTML part is HTML-escaped (the original's HTML was not). The password is never
sent over an unencrypted connection: a server that does not offer STARTTLS when ``use_tls`` is set
is refused, not silently downgraded. SMTP replies are classified by code: 4xx and connection
trouble are retryable, 5xx (rejected sender/recipient/content, bad credentials) are not. Reasons
name the SMTP stage and code only, never the server's text or the credentials.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from graphwiz_monitoring.alerting.channels.base import Channel
from graphwiz_monitoring.alerting.channels.render import GroupView, View, fit
from graphwiz_monitoring.alerting.models import Alert
from graphwiz_monitoring.config import EmailSettings
from graphwiz_monitoring.errors import DeliveryFailed

SUBJECT_MAX_CHARS = 200
MESSAGE_MAX_CHARS = 100_000


def _one_line(text: str) -> str:
    """Header values must not contain line breaks (header injection)."""
    return " ".join(text.split())


def _new_message(subject: str, settings: EmailSettings, event_time: float, message_id: str,
                 kind: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = fit(_one_line(subject), SUBJECT_MAX_CHARS)
    msg["From"] = settings.from_ or ""
    msg["To"] = ", ".join(settings.to)
    msg["Date"] = formatdate(event_time, usegmt=True)
    msg["Message-ID"] = make_msgid(idstring=message_id)
    msg["X-Graphwiz-Kind"] = kind
    return msg


def build_message(view: View, settings: EmailSettings) -> EmailMessage:
    alert = view.alert
    msg = _new_message(view.subject, settings, view.event_time, f"{alert.alert_id}.{view.kind}", view.kind)
    msg["X-Graphwiz-Alert-Id"] = _one_line(alert.alert_id)
    message = fit(alert.message, MESSAGE_MAX_CHARS)
    plain = [view.subject, "", message, ""]
    plain += [f"{name}: {value}" for name, value in view.fields]
    plain += ["", f"{view.footer} | rule {alert.rule_name} | alert {alert.alert_id} | {view.timestamp}"]
    msg.set_content("\n".join(plain))

    def esc(text: str) -> str:
        return html.escape(text, quote=True)

    rows = "".join(f'<tr><th align="left" style="padding:2px 12px 2px 0">{esc(k)}</th><td>{esc(v)}</td></tr>'
                   for k, v in view.fields)
    banner = '<p style="color:#2ECC71;font-weight:bold">RESOLVED</p>' if view.resolved else ""
    msg.add_alternative(
        '<!DOCTYPE html><html><body style="font-family:sans-serif">'
        f'<div style="border-left:6px solid #{view.color:06X};padding:8px 12px">{banner}'
        f'<h2 style="margin:0 0 8px 0">{esc(view.subject)}</h2>'
        f'<p style="white-space:pre-wrap">{esc(message)}</p>'
        f"<table>{rows}</table>"
        f'<p style="color:#888;font-size:12px">{esc(view.footer)} | rule {esc(alert.rule_name)} | '
        f"alert {esc(alert.alert_id)} | {esc(view.timestamp)}</p></div></body></html>",
        subtype="html",
    )
    return msg


def build_group_message(view: GroupView, settings: EmailSettings) -> EmailMessage:
    """A grouped message: the subject names the count and rule(s); one section per alert (title, message,
    labels), in plain text and escaped HTML."""
    msg = _new_message(view.subject, settings, view.event_time, f"group.{view.items[0][0].alert_id}.{view.kind}",
                       view.kind)
    plain = [view.subject, ""]
    sections = []

    def esc(text: str) -> str:
        return html.escape(text, quote=True)

    for alert_view in view.views:
        alert = alert_view.alert
        labels = ", ".join(f"{k}={v}" for k, v in alert_view.fields)
        message = fit(alert.message, MESSAGE_MAX_CHARS // max(1, len(view.items)))
        plain += [f"* {alert_view.subject}", f"  {message}", f"  {labels} | alert {alert.alert_id}", ""]
        sections.append(f"<li><b>{esc(alert_view.subject)}</b><br>{esc(message)}<br>"
                        f'<span style="color:#888">{esc(labels)} | alert {esc(alert.alert_id)}</span></li>')
    plain.append(f"{view.footer} | rule {', '.join(view.rules)} | {view.timestamp}")
    msg.set_content("\n".join(plain))
    msg.add_alternative(
        '<!DOCTYPE html><html><body style="font-family:sans-serif">'
        f'<div style="border-left:6px solid #{view.color:06X};padding:8px 12px">'
        f'<h2 style="margin:0 0 8px 0">{esc(view.subject)}</h2><ul>{"".join(sections)}</ul>'
        f'<p style="color:#888;font-size:12px">{esc(view.footer)} | {esc(view.timestamp)}</p></div></body></html>',
        subtype="html",
    )
    return msg


def _classify(stage: str, exc: BaseException) -> DeliveryFailed:
    """Map an smtplib/socket/ssl exception to a DeliveryFailed without the server's text."""
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        what = "STARTTLS" if stage == "starttls" else "AUTH"
        return DeliveryFailed(f"email: the server does not offer {what}", retryable=False)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return DeliveryFailed(f"email: every recipient refused ({', '.join(map(str, codes))})",
                              retryable=all(400 <= c < 500 for c in codes))
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        what = "authentication failed" if isinstance(exc, smtplib.SMTPAuthenticationError) else f"{stage} refused"
        return DeliveryFailed(f"email: {what} (SMTP {code})", retryable=400 <= code < 500)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryFailed("email: the server's TLS certificate did not verify (see ca_file)", retryable=False)
    if isinstance(exc, ssl.SSLError):
        return DeliveryFailed(f"email: TLS error during {stage}", retryable=True)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryFailed(f"email: server disconnected during {stage}", retryable=True)
    if isinstance(exc, TimeoutError):
        return DeliveryFailed(f"email: timed out during {stage}", retryable=True)
    if isinstance(exc, ConnectionRefusedError):
        return DeliveryFailed("email: connection refused", retryable=True)
    if isinstance(exc, OSError):
        return DeliveryFailed(f"email: network error during {stage} ({type(exc).__name__})", retryable=True)
    return DeliveryFailed(f"email: {stage} failed ({type(exc).__name__})", retryable=True)


class EmailChannel(Channel):
    name = "email"
    settings_model = EmailSettings

    def message(self, alert: Alert, kind: str) -> EmailMessage:
        assert isinstance(self.settings, EmailSettings)
        return build_message(View(alert, kind), self.settings)

    def send(self, alert: Alert, kind: str) -> None:
        self._send(self.message(alert, kind))

    def send_group(self, items: list[tuple[Alert, str]]) -> None:
        assert isinstance(self.settings, EmailSettings)
        self._send(build_group_message(GroupView(items), self.settings))

    def _send(self, msg: EmailMessage) -> None:
        s = self.settings
        assert isinstance(s, EmailSettings) and s.smtp_server
        if s.username and not (s.use_tls or s.use_ssl):
            raise DeliveryFailed("email: refusing to send the password without TLS (set use_tls or use_ssl)",
                                 retryable=False)
        context = ssl.create_default_context(cafile=s.ca_file) if (s.use_tls or s.use_ssl) else None
        stage, failure = "connect", None
        try:
            if s.use_ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_server, s.smtp_port, timeout=s.timeout_seconds,
                                                        context=context)
            else:
                client = smtplib.SMTP(s.smtp_server, s.smtp_port, timeout=s.timeout_seconds)
            with client:
                stage = "ehlo"
                client.ehlo()
                if s.use_tls and not s.use_ssl:
                    stage = "starttls"
                    client.starttls(context=context)
                    client.ehlo()
                if s.username:
                    stage = "login"
                    client.login(s.username, s.password.get_secret_value() if s.password else "")
                stage = "send"
                client.send_message(msg)  # partial refusals: the others got it; resending would duplicate
        except (smtplib.SMTPException, OSError) as exc:
            failure = _classify(stage, exc)
        if failure is not None:
            raise failure
