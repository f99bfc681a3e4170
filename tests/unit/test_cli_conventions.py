"""Command-line conventions: --version, --config before or after the subcommand, and every bad option value a
one-line usage error naming the option and the value (exit 2), never a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import graphwiz_monitoring
from graphwiz_monitoring import context
from graphwiz_monitoring.cli import main
from tests.conftest import free_port


@pytest.fixture(autouse=True)
def _fresh_context(monkeypatch):
    monkeypatch.delenv("GRAPHWIZ_CONFIG", raising=False)
    # Nothing listens there: a command that got past its options fails fast, never reaching a system Redis.
    monkeypatch.setenv("GRAPHWIZ_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    context.reset()
    yield
    context.reset()


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_version():
    result = _run("--version")
    assert result.exit_code == 0, result.output
    assert graphwiz_monitoring.__version__ in result.output
    assert "graphwiz-monitoring" in result.output


BAD_CONFIG = "monitoring:\n  prometheus_port: abc\n"


@pytest.mark.parametrize("args", [
    ["--config", "{cfg}", "metrics"],
    ["metrics", "--config", "{cfg}"],
    ["metrics", "--config={cfg}"],
    ["silence", "list", "--config", "{cfg}"],
    ["alerts", "list", "--json", "--config", "{cfg}"],
    ["trading", "status", "--config", "{cfg}"],
    ["exporter", "--config", "{cfg}"],
    ["realtime", "--config", "{cfg}"],
], ids=lambda a: " ".join(a))
def test_config_before_or_after_the_subcommand(tmp_path, args):
    """The file named after the subcommand is the one loaded (its error shows; no Redis is needed for that)."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(BAD_CONFIG)
    result = _run(*[a.format(cfg=cfg) for a in args])
    assert result.exit_code == 1, result.output
    assert "monitoring.prometheus_port: must be 1..65535, got 'abc'" in result.output


def test_config_after_the_subcommand_is_what_export_rules_uses(tmp_path):
    cfg = tmp_path / "m.yaml"
    cfg.write_text("alerts:\n  rules:\n    high_cpu:\n      threshold: 93.5\n")
    out = tmp_path / "rules.yml"
    result = _run("export-rules", "--out", str(out), "--config", str(cfg))
    assert result.exit_code == 0, result.output
    assert "93.5" in out.read_text()


def test_missing_config_file_names_the_option(tmp_path):
    result = _run("status", "--config", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2, result.output
    assert "--config" in result.output and "nope.yaml" in result.output


@pytest.mark.parametrize("args, option, value", [
    (["exporter", "--port", "99999"], "--port", "99999"),
    (["exporter", "--port", "http"], "--port", "http"),
    (["realtime", "--port", "0"], "--port", "0"),
    (["alerts", "list", "--hours", "-3"], "--hours", "-3"),
    (["alerts", "list", "--hours", "0"], "--hours", "0"),
    (["alerts", "list", "--hours", "nan"], "--hours", "nan"),
    (["alerts", "list", "--severity", "loud"], "--severity", "loud"),
    (["dlq", "list", "--limit", "-5"], "--limit", "-5"),
    (["trading", "pause", "--wait", "-1"], "--wait", "-1"),
    (["trading", "resume", "--wait", "inf"], "--wait", "inf"),
    (["silence", "add", "-m", "rule=x", "--duration", "abc"], "--duration", "abc"),
    (["silence", "add", "-m", "rule=x", "--duration", "-2h"], "--duration", "-2h"),
    (["silence", "add", "-m", "rule=x", "--until", "garbage"], "--until", "garbage"),
    (["silence", "add", "-m", "rule=x", "--starts", "yesterday"], "--starts", "yesterday"),
    (["silence", "add", "-m", "novalue"], "--matcher", "novalue"),
    (["test-alert", "--channel", "pager"], "--channel", "pager"),
    (["test-alert", "--channel", "log", "--severity", "loud"], "--severity", "loud"),
], ids=lambda a: " ".join(a) if isinstance(a, list) else "_")
def test_bad_option_value_is_a_one_line_usage_error(args, option, value):
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert option in lines[0] and value in lines[0], lines[0]


def test_unknown_option_is_one_line_too():
    result = _run("status", "--colour")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "--colour" in result.output
