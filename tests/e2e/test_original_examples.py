"""The original description's code examples, run as written against the installed package.

They run in a separate interpreter from a directory outside the repository, so the import paths
(``graphwiz_trader.monitoring``, ``graphwiz_trader.monitoring.dashboard``) are proven to come from the
installed package. Adapted only where the examples cannot run as printed: the Redis URL, stand-ins for
the bot's own objects, a short rule evaluation interval, ``AlertSeverity`` imported (the example uses it without importing it) and a
shorter sleep.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.e2e

EXAMPLES = '''
import asyncio, json, sys
from graphwiz_trader.monitoring import create_monitor
from graphwiz_trader.monitoring import AlertRule, AlertSeverity, AlertChannel
from graphwiz_trader.monitoring.dashboard import DashboardConfig, export_dashboard_to_file

exchange_mgr = graph = engine = agent_mgr = object()  # the bot's own objects

async def main():
    config = {
        'monitoring': {
            'prometheus_port': 8000,
            'enable_prometheus': True,
            'rule_evaluation_interval_seconds': 0.1,  # so the custom rule runs within this short example
        },
        'redis': {'url': sys.argv[1]},
        'trader': {'journal_dir': 'journal'},
    }
    monitor = create_monitor(config)
    monitor.set_dependencies(
        exchange_manager=exchange_mgr,
        neo4j_graph=graph,
        trading_engine=engine,
        agent_manager=agent_mgr
    )
    await monitor.start()
    try:
        monitor.record_trade({
            'symbol': 'BTC/USDT',
            'side': 'buy',
            'price': 50000,
            'quantity': 0.1,
            'pnl': 150.50,
            'success': True
        })
        monitor.record_agent_prediction(
            'momentum_agent',
            {
                'prediction': 1,
                'confidence': 0.85,
                'symbol': 'BTC/USDT'
            }
        )
        alert = monitor.create_manual_alert(
            title="Custom Alert",
            message="Something happened",
            severity=AlertSeverity.WARNING
        )
        custom_rule = AlertRule(
            name="custom_drawdown",
            condition=lambda m: m.get('trading', {}).get('current_drawdown', 0) > 0.05,
            severity=AlertSeverity.WARNING,
            channels=[AlertChannel.DISCORD, AlertChannel.SLACK],
            title_template="Custom Drawdown Alert",
            message_template="Drawdown at {drawdown_percent}%",
            cooldown_seconds=600
        )
        monitor.alert_manager.custom_rules['custom_drawdown'] = custom_rule
        await asyncio.sleep(0.5)
    finally:
        await monitor.stop()

    dashboard = DashboardConfig.get_default_dashboard()
    export_dashboard_to_file(dashboard, 'graphwiz-main.json')
    alerts_dashboard = DashboardConfig.get_alerts_dashboard()
    export_dashboard_to_file(alerts_dashboard, 'graphwiz-alerts.json')
    print(json.dumps({"alert": alert.alert_id, "severity": alert.severity.value}))

asyncio.run(main())
'''


def test_the_description_examples_run_with_its_import_paths(tmp_path, redis_url, store, keys) -> None:
    script = tmp_path / "examples.py"
    script.write_text(textwrap.dedent(EXAMPLES))
    done = subprocess.run([sys.executable, str(script), redis_url], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]  # incl. the custom rule's evaluator thread
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["severity"] == "warning"
    stored = json.loads(store.r.get(keys.alert(result["alert"])))
    assert stored["title"] == "Custom Alert" and stored["message"] == "Something happened"
    # No worker runs here: the trade and the prediction wait in the ingest queue, in one batch or more.
    assert store.r.llen("ingest") >= 1
    for name in ("graphwiz-main.json", "graphwiz-alerts.json"):
        assert json.loads((tmp_path / name).read_text())["panels"]


DESCRIPTION_CONFIG = '''
monitoring:
  prometheus_port: 8000
  prometheus_url: "http://localhost:9090"
  enable_prometheus: true
  metrics_interval_seconds: 15
  health_check_interval_seconds: 30
  enable_realtime: true

notifications:
  discord:
    webhook_url: "https://discord.com/api/webhooks/YOUR_WEBHOOK"
  slack:
    webhook_url: "https://hooks.slack.com/services/YOUR/WEBHOOK"
  email:
    enabled: true
    smtp_server: "smtp.gmail.com"
    smtp_port: 587
    use_tls: true
    from: "trading@example.com"
    to:
      - "trader@example.com"
'''


def test_the_description_configuration_block_loads_as_written(tmp_path) -> None:
    from graphwiz_monitoring.config import load_settings

    path = tmp_path / "monitoring.yaml"
    path.write_text(DESCRIPTION_CONFIG)
    settings = load_settings(str(path))
    email = settings.notifications.email
    assert email.enabled and email.smtp_server == "smtp.gmail.com" and email.smtp_port == 587
    assert email.from_ == "trading@example.com" and email.to == ["trader@example.com"]
    assert settings.notifications.discord.webhook_url.get_secret_value().endswith("YOUR_WEBHOOK")
    assert settings.monitoring.prometheus_port == 8000 and settings.monitoring.metrics_interval_seconds == 15
