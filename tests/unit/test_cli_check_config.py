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
