"""`run`'s console lines, read from the real event stream and state of a private Redis."""

from __future__ import annotations

from graphwiz_monitoring.cli.console import RunConsole, event_line
from graphwiz_monitoring.events import EventType, publish
from graphwiz_monitoring.health.pause import set_trading_paused
from tests.conftest import wait_until


def test_event_lines_name_what_happened_and_leave_out_the_routine():
    alert = {"type": "alert", "data": {"event": "acknowledged", "severity": "critical", "rule_name": "large_loss",
                                       "title": "Large loss:\n drawdown 15%", "alert_id": "abc123"}}
    assert event_line(alert) == "alert acknowledged critical large_loss: Large loss: drawdown 15%  [abc123]"
    recovery = {"type": "recovery", "data": {"action": "pause_trading", "check": "portfolio_health",
                                             "outcome": "succeeded", "reason": "drawdown", "targets": ["t1"]}}
    assert event_line(recovery) == "recovery pause_trading for portfolio_health: succeeded on t1  drawdown"
    assert event_line({"type": "breaker", "data": {"name": "email", "from": "closed", "to": "open", "failures": 5}}) \
        == "breaker email: closed -> open (5 failures)"
    assert event_line({"type": "trade", "data": {"trades": 100}}) is None
    assert event_line({"type": "metrics", "data": {}}) is None


def test_console_reads_events_pauses_and_summary(store, keys):
    console = RunConsole(store, keys, summary_seconds=0.5)
    lines: list[str] = []
    console.poll(lines.append)  # subscribes, and notes the pause state as it is (running): no line for that
    assert lines == []
    publish(store, keys, EventType.ALERT, {"event": "firing", "severity": "warning", "rule_name": "high_cpu",
                                           "title": "High CPU", "alert_id": "x1"})
    publish(store, keys, EventType.TRADE, {"trades": 1})
    set_trading_paused(store, keys, True, reason="drawdown 15 %", by="telegram:alice")
    wait_until(lambda: console.poll(lines.append) or any("PAUSED" in line for line in lines), timeout=5,
               message="the pause line")
    set_trading_paused(store, keys, False)
    wait_until(lambda: console.poll(lines.append) or "trading resumed" in lines, timeout=5, message="resumed")
    wait_until(lambda: console.poll(lines.append) or any(line.startswith("summary:") for line in lines), timeout=5,
               message="a summary")
    assert "alert firing    warning  high_cpu: High CPU  [x1]" in lines
    assert "trading PAUSED by telegram:alice: drawdown 15 %" in lines
    summary = next(line for line in lines if line.startswith("summary:"))
    assert "trades/s" in summary and "P&L" in summary and "active alert" in summary and "waiting" in summary
    assert not any("trade" in line and "summary" not in line and "trading" not in line for line in lines)
    console.close()
