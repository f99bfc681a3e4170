"""A channel switched on with `enabled: true` but missing what it needs to send is a configuration error naming
the field; `test-alert` names the missing field of a channel that cannot send."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from graphwiz_monitoring import context
from graphwiz_monitoring.cli import main
from graphwiz_monitoring.config import load_settings, parse_settings
from graphwiz_monitoring.errors import ConfigError
from tests.conftest import ROOT, free_port


def _problems(notifications: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"notifications": notifications}, env={})
    return caught.value.problems


@pytest.mark.parametrize("section, expected", [
    ({"email": {"enabled": True, "smtp_server": "", "from": "m@example.com", "to": ["o@example.com"]}},
     ["notifications.email.smtp_server: required when email is enabled"]),
    ({"email": {"enabled": True, "smtp_server": "smtp.example.com", "from": "m@example.com", "to": [""]}},
     ["notifications.email.to: required when email is enabled"]),
    ({"email": {"enabled": True}},
     ["notifications.email.smtp_server: required when email is enabled",
      "notifications.email.from: required when email is enabled",
      "notifications.email.to: required when email is enabled"]),
    ({"discord": {"enabled": True}}, ["notifications.discord.webhook_url: required when discord is enabled"]),
    ({"slack": {"enabled": True, "webhook_url": ""}}, ["notifications.slack.webhook_url: required when slack is enabled"]),
    ({"telegram": {"enabled": True, "bot_token": "123:abc"}},
     ["notifications.telegram.chat_id: required when telegram is enabled"]),
    ({"telegram": {"enabled": True, "chat_id": 42}},
     ["notifications.telegram.bot_token: required when telegram is enabled"]),
    ({"webhook": {"enabled": True, "url": "  "}}, ["notifications.webhook.url: required when webhook is enabled"]),
], ids=["email-smtp_server", "email-to-blank", "email-all", "discord", "slack", "telegram-chat_id",
        "telegram-bot_token", "webhook"])
def test_enabled_channel_missing_a_field_is_an_error(section, expected):
    problems = _problems(section)
    for line in expected:
        assert any(p.startswith(line) for p in problems), problems
    assert len(problems) == len(expected), problems


@pytest.mark.parametrize("section", [
    {"discord": {}, "slack": {"webhook_url": ""}, "telegram": {"chat_id": "1"}, "webhook": {"url": None}},
    {"email": {"enabled": False, "smtp_server": "", "to": [""]}},
    {"discord": {"enabled": False}},
], ids=["unset-means-off-when-incomplete", "email-off", "discord-off"])
def test_incomplete_channel_not_switched_on_loads_inactive(section):
    settings = parse_settings({"notifications": section}, env={})
    for name in section:
        assert not settings.notifications.for_channel(name).active


def test_shipped_and_description_configs_still_load():
    import yaml

    from tests.e2e.test_original_examples import DESCRIPTION_CONFIG

    described = parse_settings(yaml.safe_load(DESCRIPTION_CONFIG), env={})
    assert described.notifications.email.active and described.notifications.discord.active
    shipped = load_settings(ROOT / "monitoring.yaml", env={})
    assert not shipped.notifications.email.active  # enabled: false in the shipped file


def _cli(tmp_path: Path, monkeypatch, yaml_text: str, *args: str):
    config = tmp_path / "m.yaml"
    config.write_text(yaml_text)
    monkeypatch.delenv("GRAPHWIZ_CONFIG", raising=False)
    monkeypatch.setenv("GRAPHWIZ_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    context.reset()
    try:
        return CliRunner().invoke(main, [*args, "--config", str(config)])
    finally:
        context.reset()


def test_check_config_names_the_missing_email_field(tmp_path, monkeypatch):
    result = _cli(tmp_path, monkeypatch, "notifications:\n  email:\n    enabled: true\n    smtp_server: ''\n"
                  "    from: m@example.com\n    to: ['']\n", "check-config")
    assert result.exit_code == 1
    assert "notifications.email.smtp_server: required when email is enabled" in result.output
    assert "notifications.email.to: required when email is enabled" in result.output
    assert "configuration OK" not in result.output


@pytest.mark.parametrize("yaml_text, channel, expected", [
    ("notifications:\n  telegram:\n    bot_token: '123:abc'\n", "telegram",
     "telegram: cannot send: notifications.telegram.chat_id is not set"),
    ("notifications:\n  discord:\n    enabled: false\n    webhook_url: https://discord.example/x\n", "discord",
     "discord: cannot send: notifications.discord.enabled is false"),
    ("notifications:\n  email:\n    smtp_server: smtp.example.com\n", "email",
     "email: cannot send: notifications.email.enabled is false"),
    ("notifications:\n  email:\n    enabled: null\n    smtp_server: smtp.example.com\n    to: [o@example.com]\n",
     "email", "email: cannot send: notifications.email.from is not set"),
])
def test_test_alert_names_what_a_channel_lacks(tmp_path, monkeypatch, yaml_text, channel, expected):
    result = _cli(tmp_path, monkeypatch, yaml_text, "test-alert", "--channel", channel)
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "suppressed" not in result.output
