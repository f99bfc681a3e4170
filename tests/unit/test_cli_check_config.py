"""`graphwiz-monitoring check-config`: effective config with secrets masked, or every error and exit 1."""

from __future__ import annotations

from click.testing import CliRunner

from graphwiz_monitoring.cli import main


def test_reports_every_error_of_a_broken_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("monitoring:\n  prometheus_port: abc\n  nope: 1\nnotifications:\n  email:\n    smtp_port: 0\n"
                   "alerts:\n  cooldowns:\n    warning: zero\n")
    result = CliRunner().invoke(main, ["check-config", "--config", str(bad)])
    assert result.exit_code == 1
    for expected in ("monitoring.prometheus_port: must be 1..65535, got 'abc'", "monitoring.nope: unknown key",
                     "notifications.email.smtp_port: must be 1..65535, got 0", "alerts.cooldowns.warning"):
        assert expected in result.output
    assert "4 configuration problem(s)" in result.output


def test_prints_effective_config_masked(tmp_path, monkeypatch):
    good = tmp_path / "good.yaml"
    good.write_text("notifications:\n  slack:\n    webhook_url: ${SLACK_URL}\n")
    monkeypatch.setenv("SLACK_URL", "https://hooks.slack.com/services/T0/B0/VERYSECRET")
    result = CliRunner().invoke(main, ["check-config", "--config", str(good)])
    assert result.exit_code == 0, result.output
    assert "VERYSECRET" not in result.output
    assert "prometheus_port: 8000" in result.output


def test_lists_the_maintenance_windows_open_now_and_next(tmp_path):
    config = tmp_path / "windows.yaml"
    config.write_text("alerts:\n  maintenance:\n"
                      "    weekly_upgrade: {cron: '0 2 * * 0', duration: 2h, timezone: Europe/Berlin,\n"
                      "                     matchers: {rule: 'health:*'}}\n"
                      "    migration: {starts_at: '2099-12-24T22:00', ends_at: '2099-12-25T01:00'}\n"
                      "    past: {starts_at: '2020-01-01T00:00', ends_at: '2020-01-01T01:00'}\n")
    result = CliRunner().invoke(main, ["check-config", "--config", str(config)])
    assert result.exit_code == 0, result.output
    weekly = next(line for line in result.output.splitlines() if line.startswith("maintenance window weekly_upgrade"))
    assert "(rule=health:*)" in weekly and weekly.count("T02:00+01:00 to ") + weekly.count("T02:00+02:00 to ") == 3
    assert "maintenance window migration (all alerts): 2099-12-24T22:00+00:00 to 2099-12-25T01:00+00:00" \
        in result.output
    assert "maintenance window past (all alerts): ended" in result.output
