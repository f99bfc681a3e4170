"""`graphwiz-monitoring check-config`: effective config with secrets masked, or every error and exit 1."""

from __future__ import annotations

from click.testing import CliRunner

from graphwiz_monitoring.cli import main


def check_config(tmp_path, text: str):
    """``check-config`` run on a file holding ``text``; click's Result."""
    config = tmp_path / "monitoring.yaml"
    config.write_text(text)
    return CliRunner().invoke(main, ["check-config", "--config", str(config)])


def test_reports_every_error_of_a_broken_file(tmp_path):
    result = check_config(tmp_path, "monitoring:\n  prometheus_port: abc\n  nope: 1\n"
                                    "notifications:\n  email:\n    smtp_port: 0\n"
                                    "alerts:\n  cooldowns:\n    warning: zero\n")
    assert result.exit_code == 1
    for expected in ("monitoring.prometheus_port: must be 1..65535, got 'abc'", "monitoring.nope: unknown key",
                     "notifications.email.smtp_port: must be 1..65535, got 0", "alerts.cooldowns.warning"):
        assert expected in result.output
    assert "4 configuration problem(s)" in result.output


def test_prints_effective_config_masked(tmp_path, monkeypatch):
    monkeypatch.setenv("SLACK_URL", "https://hooks.slack.com/services/T0/B0/VERYSECRET")
    result = check_config(tmp_path, "notifications:\n  slack:\n    webhook_url: ${SLACK_URL}\n")
    assert result.exit_code == 0, result.output
    assert "VERYSECRET" not in result.output
    assert "prometheus_port: 8000" in result.output


def test_lists_the_maintenance_windows_open_now_and_next(tmp_path):
    result = check_config(tmp_path, "alerts:\n  maintenance:\n"
                                    "    weekly_upgrade: {cron: '0 2 * * 0', duration: 2h, timezone: Europe/Berlin,\n"
                                    "                     matchers: {rule: 'health:*'}}\n"
                                    "    migration: {starts_at: '2099-12-24T22:00', ends_at: '2099-12-25T01:00'}\n"
                                    "    past: {starts_at: '2020-01-01T00:00', ends_at: '2020-01-01T01:00'}\n")
    assert result.exit_code == 0, result.output
    weekly = next(line for line in result.output.splitlines() if line.startswith("maintenance window weekly_upgrade"))
    assert "(rule=health:*)" in weekly and weekly.count("T02:00+01:00 to ") + weekly.count("T02:00+02:00 to ") == 3
    assert "maintenance window migration (all alerts): 2099-12-24T22:00+00:00 to 2099-12-25T01:00+00:00" \
        in result.output
    assert "maintenance window past (all alerts): ended" in result.output


def test_prints_the_effective_route_of_each_builtin_rule(tmp_path):
    from graphwiz_monitoring.rulebook.rules import BUILTIN_RULES

    result = check_config(tmp_path, (
        "notifications:\n"
        "  telegram: {bot_token: '123:SECRETtoken99', chat_id: '1', destinations: {ops: {chat_id: '2'}}}\n"
        "  webhook: {url: 'http://example.com/SECRETpath', destinations: {pager: {url: 'http://example.com/p'}}}\n"
        "alerts:\n"
        "  routes:\n"
        "    - {match: {severity: [critical, emergency]}, destinations: [telegram:ops, webhook:pager], continue: true}\n"
        "    - {match: {rule: exchange_disconnect, exchange: 'bin*'}, destinations: [telegram]}\n"
        "    - {match: {rule: 'exchange_*'}, destinations: [discord]}\n"
        "  escalation:\n"
        "    emergency: [{after_seconds: 0, channels: [log]}, {after_seconds: 600, channels: [telegram:ops, email]}]\n"
        "  rules:\n"
        "    risk_limit_breach: {severity: emergency}\n"
        "    disk_space: {escalation: [{after_seconds: 0, channels: [webhook:pager]}]}\n"
    ))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for rule in BUILTIN_RULES:
        assert sum(1 for line in lines if line.startswith(f"#   {rule} [")) == 1, rule
    assert "#   exchange_disconnect [critical]: telegram:ops, webhook:pager, discord  <- routes 1, 3" in lines
    assert ("#     per alert: route 2 when exchange=bin*: telegram (instead of the routes after it)" in lines)
    assert "#   large_loss [critical]: telegram:ops, webhook:pager  <- route 1" in lines
    assert "#   high_cpu [warning]: discord, slack, log  <- the rule's channels" in lines
    # an escalated episode follows its steps, not the routes
    assert ("#   risk_limit_breach [emergency]: 0 s: log; 600 s: telegram:ops, email  <- alerts.escalation.emergency"
            in lines)
    assert any(line.startswith("#   disk_space [") and line.endswith(": 0 s: webhook:pager  <- alerts.rules.disk_space.escalation")
               for line in lines), lines
    assert "SECRET" not in result.output
    import yaml

    assert yaml.safe_load(result.output.replace("configuration OK", ""))["alerts"]["routes"][1]["continue"] is False


def test_a_route_to_an_unknown_destination_is_an_error_naming_it(tmp_path):
    result = check_config(tmp_path, "alerts:\n  routes:\n    - {match: {rule: high_cpu}, destinations: [telegram:nowhere]}\n")
    assert result.exit_code == 1
    assert "alerts.routes[0].destinations names 'telegram:nowhere'" in result.output
