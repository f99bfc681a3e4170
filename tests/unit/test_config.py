"""load_settings / parse_settings: substitution, lookup order, every error reported, secrets masked."""

from __future__ import annotations

import pytest

from graphwiz_monitoring.config import MASK, find_config_file, load_settings, mask_url, parse_settings
from graphwiz_monitoring.errors import ConfigError


def test_empty_file_gives_defaults(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("")
    s = load_settings(path, env={})
    assert s.monitoring.prometheus_port == 8000
    assert s.alerts.cooldowns.emergency == 10
    assert s.health_checks.checks["disk_space"].interval_seconds == 300
    assert [a.value for a in s.health_checks.checks["portfolio_health"].recovery] == ["pause_trading", "close_positions"]


def test_repo_monitoring_yaml_is_valid():
    from tests.conftest import ROOT

    s = load_settings(ROOT / "monitoring.yaml", env={})
    assert s.alerts.rules["large_loss"].threshold == 0.10
    # The description's per-check intervals, and a trader that loads the file serves nothing beside `run`.
    assert s.health_checks.checks["api_rate_limits"].interval_seconds == 10
    assert s.health_checks.checks["disk_space"].interval_seconds == 300
    assert s.monitoring.enable_prometheus is None and s.monitoring.enable_realtime is None
    assert not s.notifications.discord.active  # no webhook in the environment


def test_env_substitution_and_defaults():
    s = parse_settings({"notifications": {"discord": {"webhook_url": "${HOOK}"},
                                          "slack": {"webhook_url": "${SLACK:-https://hooks.example/x}"}}},
                       env={"HOOK": "https://discord.example/api/webhooks/1/abc"})
    assert s.notifications.discord.webhook_url.get_secret_value().endswith("/abc")
    assert s.notifications.discord.active
    assert s.notifications.slack.webhook_url.get_secret_value() == "https://hooks.example/x"


def test_missing_env_var_is_an_error_with_its_path():
    with pytest.raises(ConfigError) as err:
        parse_settings({"notifications": {"telegram": {"bot_token": "${TG_TOKEN}"}}}, env={})
    assert "notifications.telegram.bot_token: environment variable TG_TOKEN is not set" in str(err.value)


def test_redis_url_env_override():
    s = parse_settings({"redis": {"url": "redis://a:1/0"}}, env={"GRAPHWIZ_REDIS_URL": "redis://b:2/3"})
    assert s.redis.url == "redis://b:2/3"


def test_every_problem_reported_once_with_path_and_value():
    bad = {
        "monitoring": {"prometheus_port": "abc", "typo_key": 1},
        "notifications": {"email": {"smtp_port": 70000, "password": 12}},
        "alerts": {"cooldowns": {"info": -5}, "rules": {"high_cpu": {"severity": "loud"}}},
    }
    with pytest.raises(ConfigError) as err:
        parse_settings(bad, env={})
    problems = err.value.problems
    assert "monitoring.prometheus_port: must be 1..65535, got 'abc'" in problems
    assert "monitoring.typo_key: unknown key" in problems
    assert "notifications.email.smtp_port: must be 1..65535, got 70000" in problems
    assert "alerts.cooldowns.info: must be a positive number, got -5" in problems
    assert any(p.startswith("alerts.rules.high_cpu.severity") and "'loud'" in p for p in problems)
    assert len(problems) == 6


def test_secret_values_never_in_errors():
    with pytest.raises(ConfigError) as err:
        parse_settings({"notifications": {"discord": {"webhook_url": ["https://discord.com/api/webhooks/SECRET123"]}}},
                       env={})
    assert "SECRET123" not in str(err.value)
    assert MASK in str(err.value)


def test_masked_dump_hides_secrets():
    s = parse_settings({"redis": {"url": "redis://:pw123@localhost:6379/0"},
                        "notifications": {"telegram": {"bot_token": "123:ABCSECRET", "chat_id": 42}}}, env={})
    dumped = repr(s.masked())
    assert "ABCSECRET" not in dumped and "pw123" not in dumped
    assert s.notifications.telegram.chat_id == "42"


def test_unknown_health_check_and_threshold_rejected():
    with pytest.raises(ConfigError) as err:
        parse_settings({"health_checks": {"checks": {"disk_space": {"thresholds": {"bogus": 1}}}}}, env={})
    assert "bogus" in str(err.value)
    with pytest.raises(ConfigError):
        parse_settings({"health_checks": {"checks": {"no_such_check": {}}}}, env={})


def test_lookup_order(tmp_path, monkeypatch):
    explicit, from_env, local = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "monitoring.yaml"
    for p in (explicit, from_env, local):
        p.write_text("")
    monkeypatch.chdir(tmp_path)
    assert find_config_file(explicit, env={"GRAPHWIZ_CONFIG": str(from_env)}) == explicit
    assert find_config_file(None, env={"GRAPHWIZ_CONFIG": str(from_env)}) == from_env
    assert find_config_file(None, env={}) == local
    local.unlink()
    assert find_config_file(None, env={}) is None


def test_invalid_yaml_is_a_config_error(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("monitoring: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(path, env={})


def test_mask_url():
    assert mask_url("redis://user:secret@h:1/0") == f"redis://user:{MASK}@h:1/0"
    assert mask_url("redis://h:1/0") == "redis://h:1/0"


def _leaf_keys(model, prefix=""):
    from pydantic import BaseModel

    for name, field in type(model).model_fields.items():
        key = field.alias or name
        value = getattr(model, name)
        if isinstance(value, BaseModel) and not prefix.startswith("health_checks.checks"):
            yield from _leaf_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_monitoring_yaml_documents_every_setting():
    """Each setting appears in the repo's monitoring.yaml, as a key or (per-channel options) in a comment."""
    import re

    from tests.conftest import ROOT

    text = (ROOT / "monitoring.yaml").read_text()
    undocumented = [path for path in _leaf_keys(parse_settings({}, env={}))
                    if not re.search(rf"(^|[\s{{,]){re.escape(path.rsplit('.', 1)[-1])}\b", text, re.M)]
    assert undocumented == []


def test_journal_max_bytes_defaults_to_one_gib_in_code_and_in_monitoring_yaml():
    from tests.conftest import ROOT

    assert parse_settings({}, env={}).trader.journal_max_bytes == 1024**3
    assert load_settings(ROOT / "monitoring.yaml", env={}).trader.journal_max_bytes == 1024**3


@pytest.mark.parametrize("value", [0, -1, "abc", None, [1], 1.5])
def test_journal_max_bytes_must_be_a_positive_integer(value):
    with pytest.raises(ConfigError) as err:
        parse_settings({"trader": {"journal_max_bytes": value}}, env={})
    [problem] = err.value.problems
    assert problem.startswith("trader.journal_max_bytes: ")
    # pydantic's own wording for 1.5 ("got a number with a fractional part") is kept as is, without the value.
    assert repr(value) in problem or "fractional part" in problem


def test_health_check_interval_seconds_is_the_interval_of_checks_without_their_own():
    """Precedence: a check's own interval_seconds, then monitoring.health_check_interval_seconds, then the
    description's per-check interval (exchange 30 s, rate limits 10 s, disk 5 min, ...)."""
    from graphwiz_monitoring.celery.beat import build_beat_schedule
    from graphwiz_monitoring.config.health import DEFAULT_CHECKS

    unset = parse_settings({}, env={})
    assert unset.monitoring.health_check_interval_seconds is None
    assert {n: c.interval_seconds for n, c in unset.health_checks.checks.items()} == {
        n: d[0] for n, d in DEFAULT_CHECKS.items()}
    assert unset.health_checks.checks["api_rate_limits"].interval_seconds == 10

    s = parse_settings({"monitoring": {"health_check_interval_seconds": 45},
                        "health_checks": {"checks": {"disk_space": {"interval_seconds": 120},
                                                     "agent_health": {"enabled": False},
                                                     "api_rate_limits": {"thresholds": {"healthy_above": 40}}}}},
                       env={})
    intervals = {n: c.interval_seconds for n, c in s.health_checks.checks.items()}
    assert intervals == {**{n: 45 for n in DEFAULT_CHECKS}, "disk_space": 120}
    assert s.health_checks.checks["api_rate_limits"].thresholds["healthy_above"] == 40
    assert not s.health_checks.checks["agent_health"].enabled
    schedule = build_beat_schedule(s)
    assert schedule["health.exchange_connectivity"]["schedule"] == 45
    assert schedule["health.disk_space"]["schedule"] == 120

    # The description's configuration block: every check every 30 s (none sets its own).
    described = parse_settings({"monitoring": {"health_check_interval_seconds": 30}}, env={})
    assert {c.interval_seconds for c in described.health_checks.checks.values()} == {30}


def test_a_bad_health_check_interval_is_reported_once_at_its_key():
    with pytest.raises(ConfigError) as err:
        parse_settings({"monitoring": {"health_check_interval_seconds": "often"}}, env={})
    assert err.value.problems == ["monitoring.health_check_interval_seconds: must be a positive number, got 'often'"]
