"""`graphwiz-monitoring silence add|list|remove` and `alerts list` against a real Redis."""

from __future__ import annotations

import json

from click.testing import CliRunner

from graphwiz_monitoring import context
from graphwiz_monitoring.cli import main


def run(config, *args: str):
    result = CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)
    context.reset()
    return result


def test_silence_commands_and_alerts_list(tmp_path, redis_url, make_manager, monkeypatch) -> None:
    monkeypatch.delenv("GRAPHWIZ_REDIS_URL", raising=False)
    config = tmp_path / "monitoring.yaml"
    config.write_text(f"redis:\n  url: {redis_url}\nalerts:\n  silences:\n"
                      f"    - matchers: {{rule: disk_space}}\n      ends_at: '2999-01-01T00:00:00Z'\n"
                      f"      reason: from config\n")
    added = run(config, "silence", "add", "-m", "rule=high_latency", "-m", "exchange=binance", "--duration", "2h",
                "--author", "alice", "--reason", "exchange maintenance")
    assert added.exit_code == 0, added.output
    silence_id = added.output.strip()
    listed = run(config, "silence", "list", "--json")
    entries = {e["id"]: e for e in json.loads(listed.output)}
    assert entries[silence_id]["matchers"] == {"rule": "high_latency", "exchange": "binance"}
    assert entries[silence_id]["author"] == "alice" and 7190 < entries[silence_id]["ends_at"] - \
        entries[silence_id]["starts_at"] <= 7200
    assert any(e["source"] == "config" and e["reason"] == "from config" for e in entries.values())
    table = run(config, "silence", "list").output
    assert "exchange maintenance" in table and "rule=high_latency,exchange=binance" in table
    bad = run(config, "silence", "add", "-m", "nonsense", "--duration", "1h")
    assert bad.exit_code != 0 and "label=value" in bad.output
    assert run(config, "silence", "add", "-m", "rule=x", "--duration", "soon").exit_code != 0
    assert run(config, "silence", "remove", silence_id).exit_code == 0
    gone = run(config, "silence", "remove", silence_id)
    assert gone.exit_code != 0 and "no silence" in gone.output

    manager, _ = make_manager()
    manager.evaluate({"risk": {"leverage": 9}, "exchanges": {"kraken": {"connected": False}}})
    active = json.loads(run(config, "alerts", "list", "--json").output)
    assert sorted(a["rule_name"] for a in active) == ["exchange_disconnect", "risk_limit_breach"]
    only = json.loads(run(config, "alerts", "list", "--severity", "EMERGENCY", "--json").output)
    assert [a["rule_name"] for a in only] == ["risk_limit_breach"]
    manager.evaluate({"risk": {"leverage": 1}, "exchanges": {"kraken": {"connected": True}}})
    assert "(none)" in run(config, "alerts", "list").output
    history = run(config, "alerts", "list", "--history", "--hours", "1").output
    assert "RISK_LIMIT_BREACH" not in history and "EMERGENCY" in history and "resolved" in history
    assert "kraken" in history


def test_snooze_with_silence_add_for_and_alerts_shown_in_maintenance(tmp_path, redis_url, store, keys) -> None:
    from graphwiz_monitoring.alerting.manager import AlertManager
    from graphwiz_monitoring.config import load_settings

    config = tmp_path / "monitoring.yaml"
    config.write_text(f"redis:\n  url: {redis_url}\nalerts:\n  maintenance:\n"
                      "    always: {cron: '* * * * *', duration: 2m, matchers: {rule: large_loss}}\n")
    snoozed = run(config, "silence", "add", "-m", "rule=high_cpu", "--for", "30m")
    assert snoozed.exit_code == 0, snoozed.output
    [entry] = json.loads(run(config, "silence", "list", "--json").output)
    assert entry["id"] == snoozed.output.strip() and 1790 < entry["ends_at"] - entry["starts_at"] <= 1800
    manager = AlertManager(store, keys, load_settings(str(config)))
    [alert] = manager.evaluate({"trading": {"current_drawdown": 0.2}}).created
    table = run(config, "alerts", "list").output
    assert alert.alert_id[:12] in table and "firing, in maintenance (always)" in table
