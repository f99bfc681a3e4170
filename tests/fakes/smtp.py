"""An aiosmtpd SMTP server on loopback: plain, STARTTLS or implicit TLS, AUTH LOGIN/PLAIN, recording mail.

``make_certificate(dir)`` creates a self-signed certificate for ``localhost``/127.0.0.1 with the
``openssl`` CLI; clients verify it by using it as their CA file (``notifications.email.ca_file``).
"""

from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "alerts@example.com"
SMTP_PASSWORD = "SECRET-smtp-password-0123456789"


def make_certificate(directory: Path, openssl: str = "openssl") -> tuple[Path, Path]:
    """A self-signed cert + key for localhost and 127.0.0.1 (valid one day)."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    arrived: float
    tls: bool
    authenticated_as: str | None

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return body.get_content()


class _Handler:
    def __init__(self, fake: SmtpFake) -> None:
        self.fake = fake

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        with self.fake.lock:
            if self.fake.reject_next:
                code = self.fake.reject_next.pop(0)
                return f"{code} {'4.3.0 try again later' if code < 500 else '5.7.1 rejected'}"
            auth = session.auth_data
            self.fake.messages.append(ReceivedMail(
                envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content,
                time.monotonic(), server.transport.get_extra_info("ssl_object") is not None,
                auth.login.decode() if isinstance(auth, LoginPassword) else None))
        return "250 OK"


class SmtpFake:
    """mode: "plain" (no TLS offered), "starttls" or "ssl" (implicit TLS). AUTH needs TLS unless plain."""

    def __init__(self, mode: str = "starttls", cert: tuple[Path, Path] | None = None,
                 users: dict[str, str] | None = None) -> None:
        assert mode in ("plain", "starttls", "ssl")
        self.mode = mode
        self.users = {SMTP_USER: SMTP_PASSWORD} if users is None else users
        self.messages: list[ReceivedMail] = []
        self.auth_attempts: list[tuple[str, bool]] = []
        self.reject_next: list[int] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None
        context = None
        if mode != "plain":
            assert cert is not None, "TLS modes need a certificate"
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
        self._context = context

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self.users.get(user) == password
        self.auth_attempts.append((user, ok))
        # handled=False on failure: aiosmtpd then answers 535 itself (handled=True would leave the client hanging).
        return AuthResult(success=ok, handled=ok, auth_data=auth_data if ok else None)

    def start(self, port: int) -> SmtpFake:
        # PLAIN excluded so clients must use AUTH LOGIN (smtplib would otherwise prefer PLAIN).
        # auth_require_tls only knows STARTTLS; implicit TLS ("ssl") is encrypted from the first byte.
        kwargs: dict[str, Any] = {"authenticator": self._authenticate, "auth_require_tls": self.mode == "starttls",
                                  "auth_exclude_mechanism": ["PLAIN"]}
        if self.mode == "starttls":
            kwargs.update(tls_context=self._context, require_starttls=False)
        if self.mode == "ssl":
            kwargs.update(ssl_context=self._context)
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=port, server_hostname="localhost",
                                      **kwargs)
        self._controller.start()
        self.port = port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self) -> list[ReceivedMail]:
        with self.lock:
            return list(self.messages)
