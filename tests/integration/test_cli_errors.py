"""Every command turns library errors (bad config, Redis down) into a message and exit 1, not a traceback."""

from __future__ import annotations

from click.testing import CliRunner

from graphwiz_monitoring import context
from graphwiz_monitoring.cli import main
from tests.conftest import free_port


def _invoke(tmp_path, monkeypatch, yaml: str, *args: str):
    config = tmp_path / "m.yaml"
    config.write_text(yaml)
    monkeypatch.delenv("GRAPHWIZ_REDIS_URL", raising=False)
    context.reset()
    try:
        return CliRunner().invoke(main, ["--config", str(config), *args])
    finally:
        context.reset()


def test_redis_down_is_a_clean_error(tmp_path, monkeypatch):
    result = _invoke(tmp_path, monkeypatch, f"redis:\n  url: redis://:pw123@127.0.0.1:{free_port()}/0\n"
                     "  socket_timeout_seconds: 0.5\n", "silence", "list")
    assert result.exit_code == 1
    assert "Error: Redis at redis://:**********@127.0.0.1" in result.output
    assert "pw123" not in result.output and "Traceback" not in result.output


def test_bad_config_is_a_clean_error(tmp_path, monkeypatch):
    result = _invoke(tmp_path, monkeypatch, "monitoring:\n  prometheus_port: abc\n", "metrics")
    assert result.exit_code == 1
    assert "monitoring.prometheus_port: must be 1..65535, got 'abc'" in result.output
