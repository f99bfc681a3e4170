"""Fixtures and helpers for the notification tests (loaded via ``pytest_plugins`` in tests/conftest.py).

Alerts are produced exactly as the lifecycle does: Alert JSON at ``KeySpace.alert(id)`` (``put_alert``),
then ``workers.notify.deliver(alert_id, channel, kind)`` sent by name (``enqueue``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port, require_binary
from tests.fakes.chat_apis import TELEGRAM_TOKEN, DiscordFake, SlackFake, TelegramFake, WebhookReceiver
from tests.fakes.smtp import SMTP_PASSWORD, SMTP_USER, SmtpFake, make_certificate

WEBHOOK_SECRET = "SECRET-hmac-key-0123456789"
WEBHOOK_HEADER_SECRET = "SECRET-bearer-0123456789"
ALERT_TTL_SECONDS = 3600
# Every secret the fakes and configs use: no log line, reason or dead letter may contain one.
ALL_SECRETS = ("SECRET-discord-token", "SECRETslackPATH", "SECRET-telegram-token", "SECRET-smtp-password",
               "SECRET-hmac-key", "SECRET-bearer", "SECRET-webhook-path")


def put_alert(store: Any, keys: Any, **fields: Any) -> Any:
    """Store an Alert as the lifecycle does (JSON at KeySpace.alert(id), with a TTL) and return it."""
    from graphwiz_monitoring.alerting.models import Alert, AlertSeverity

    defaults: dict[str, Any] = {"rule_name": "test_rule", "title": "Test alert", "message": "Something happened",
                                "severity": AlertSeverity.WARNING}
    alert = Alert(**{**defaults, **fields})
    store.r.set(keys.alert(alert.alert_id), json.dumps(alert.to_dict()), ex=ALERT_TTL_SECONDS)
    return alert


def enqueue(settings: Any, alert_id: str, channel: str, kind: str = "firing") -> None:
    """Exactly the lifecycle's contract: the task by name, ids only."""
    from graphwiz_monitoring.celery import create_app

    create_app(settings).send_task("workers.notify.deliver", args=(alert_id, channel, kind))


def notifications_config(*, discord: DiscordFake | None = None, slack: SlackFake | None = None,
                         telegram: TelegramFake | None = None, webhook: WebhookReceiver | None = None,
                         smtp: SmtpFake | None = None, cert: Path | None = None,
                         retry: dict[str, Any] | None = None, **overrides: dict[str, Any]) -> dict[str, Any]:
    """A ``notifications`` section pointing at the fakes, with small retries (fast tests)."""
    fast = {"max_retries": 8, "retry_backoff_seconds": 0.05, "retry_backoff_max_seconds": 0.5,
            "timeout_seconds": 1, "rate_limit": None, **(retry or {})}
    section: dict[str, Any] = {"log": {"level": "WARNING"}}
    if discord:
        section["discord"] = {"webhook_url": discord.webhook_url, **fast}
    if slack:
        section["slack"] = {"webhook_url": slack.webhook_url, **fast}
    if telegram:
        section["telegram"] = {"bot_token": TELEGRAM_TOKEN, "chat_id": "-1001234", "api_base": telegram.api_base,
                               **fast}
    if webhook:
        section["webhook"] = {"url": webhook.url, "secret": WEBHOOK_SECRET,
                              "headers": {"Authorization": f"Bearer {WEBHOOK_HEADER_SECRET}", "X-Env": "test"},
                              **fast}
    if smtp:
        section["email"] = {"enabled": True, "smtp_server": "localhost", "smtp_port": smtp.port,
                            "use_tls": smtp.mode == "starttls", "use_ssl": smtp.mode == "ssl",
                            "username": SMTP_USER, "password": SMTP_PASSWORD, "from": "monitor@example.com",
                            "to": ["ops@example.com", "trader@example.com"],
                            "ca_file": str(cert) if cert else None, **fast}
    for name, extra in overrides.items():
        section[name] = {**section.get(name, {}), **extra}
    return section


def make_settings(redis_url: str, notifications: dict[str, Any], **sections: Any) -> Any:
    from graphwiz_monitoring.config import parse_settings

    return parse_settings({"redis": {"url": redis_url}, "notifications": notifications, **sections}, env={})


def config_yaml(notifications: dict[str, Any], **sections: Any) -> str:
    """The extra YAML for ``celery_processes(config_extra=...)``."""
    return yaml.safe_dump({"notifications": notifications, **sections}, sort_keys=False)


def _serve(fake: Any) -> Iterator[Any]:
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def discord_fake() -> Iterator[DiscordFake]:
    yield from _serve(DiscordFake())


@pytest.fixture
def slack_fake() -> Iterator[SlackFake]:
    yield from _serve(SlackFake())


@pytest.fixture
def telegram_fake() -> Iterator[TelegramFake]:
    yield from _serve(TelegramFake())


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    yield from _serve(WebhookReceiver())


@pytest.fixture(scope="session")
def smtp_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Self-signed certificate for localhost/127.0.0.1 (openssl CLI)."""
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"), require_binary("openssl"))


@pytest.fixture
def smtp_server(smtp_cert: tuple[Path, Path]) -> Iterator[Any]:
    """Factory: ``smtp_server("starttls" | "ssl" | "plain")`` -> a started SmtpFake."""
    started: list[SmtpFake] = []

    def start(mode: str = "starttls") -> SmtpFake:
        fake = SmtpFake(mode, smtp_cert).start(free_port())
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def deliver_until_done(store: Any, keys: Any, settings: Any, alert_id: str, channel: str, kind: str = "firing",
                       max_rounds: int = 50) -> list[Any]:
    """What a worker does, in-process: attempt, wait ``retry_in``, again, until a final outcome."""
    import time

    from graphwiz_monitoring.alerting.delivery import deliver_notification

    results = []
    for _ in range(max_rounds):
        result = deliver_notification(store, keys, settings, alert_id, channel, kind)
        results.append(result)
        if result.retry_in is None:
            return results
        time.sleep(result.retry_in)
    raise AssertionError(f"no final outcome after {max_rounds} rounds: {results[-3:]}")
