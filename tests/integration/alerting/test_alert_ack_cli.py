"""`graphwiz-monitoring alerts ack|unack` and the ack column of `alerts list` against a real Redis."""

from __future__ import annotations

import json

from click.testing import CliRunner

from graphwiz_monitoring import context
from graphwiz_monitoring.alerting.manager import get_active_alerts
from graphwiz_monitoring.cli import main

LOSS = {"trading": {"current_drawdown": 0.2}}


def run(config, *args: str):
    result = CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)
    context.reset()
    return result


def test_ack_and_unack_from_the_cli(tmp_path, redis_url, make_manager, store, keys, monkeypatch) -> None:
    monkeypatch.delenv("GRAPHWIZ_REDIS_URL", raising=False)
    config = tmp_path / "monitoring.yaml"
    config.write_text(f"redis:\n  url: {redis_url}\n")
    manager, _ = make_manager()
    alert = manager.evaluate(LOSS).created[0]
    done = run(config, "alerts", "ack", alert.alert_id[:12], "--for", "30m", "--comment", "looking", "--by", "alice")
    assert done.exit_code == 0, done.output
    assert "acknowledged by alice until" in done.output
    shown = get_active_alerts(store, keys)[0]
    assert shown.acknowledged_by == "alice" and shown.ack_comment == "looking"
    assert 1799 < shown.ack_expires_at - shown.acknowledged_at <= 1800
    listed = run(config, "alerts", "list").output
    assert "acknowledged by alice until" in listed
    as_json = json.loads(run(config, "alerts", "list", "--json").output)
    assert as_json[0]["acknowledged_by"] == "alice" and as_json[0]["acknowledged"] is True
    undone = run(config, "alerts", "unack", alert.alert_id, "--by", "bob")
    assert undone.exit_code == 0 and "not acknowledged" in undone.output
    assert not get_active_alerts(store, keys)[0].acknowledged
    unknown = run(config, "alerts", "ack", "f00dfeed")
    assert unknown.exit_code != 0 and "f00dfeed" in unknown.output
    bad = run(config, "alerts", "ack", alert.alert_id, "--for", "soon")
    assert bad.exit_code != 0 and "soon" in bad.output
