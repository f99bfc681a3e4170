"""`graphwiz-monitoring status` at 80 columns: nothing wider, nothing wrapped, trading first."""

from __future__ import annotations

import time

import pytest

from graphwiz_monitoring.cli.status_view import fit_widths, render_status

NOW = 1_796_540_000.0
LONG = "a message that is much too long for any eighty column terminal " * 3


def crowded_status() -> dict:
    """Every section full, with names and messages longer than a terminal line."""
    return {
        "unavailable": {}, "generated_at": NOW,
        "trading": {"paused": True, "reason": "recovery: portfolio_health " + LONG, "by": "recovery:portfolio_health"},
        "metrics": {"trading": {"pnl_usd": 1234.5, "pnl_daily_usd": -210.25, "current_drawdown": 0.1126,
                                "max_drawdown": 0.1126, "win_rate": 0.476, "total_trades": 21},
                    "risk": {"position_count": 3, "leverage": 1.8}, "portfolio": {"value_usd": 11234.5}},
        "alerts": [
            {"severity": "critical", "rule_name": "large_loss", "title": "Large loss: drawdown 10.3% " + LONG,
             "created_at": NOW - 600, "acknowledged_by": "alice", "acknowledged_at": NOW - 60},
            {"severity": "emergency", "rule_name": "a_custom_rule_with_a_very_long_name_indeed",
             "title": "Exchange kraken disconnected", "created_at": NOW - 30},
        ],
        "health": {"status": "degraded", "checks": {
            "system_resources": {"status": "degraded", "message": "cpu 100%, memory 4%; over threshold: " + LONG,
                                 "timestamp": NOW},
            "exchange_connectivity": {"status": "not_configured",
                                      "message": "not configured: no exchange to probe and none reported"},
        }},
        "breakers": {"exchange_connectivity": {"name": "exchange_connectivity", "state": "open", "failures": 3}},
        "queues": {q: i for i, q in enumerate(["ingest", "metrics", "rules", "health", "recovery", "notify.discord",
                                               "notify.slack", "notify.email", "notify.telegram", "notify.webhook",
                                               "notify.log", "celery"])},
        "dead_letters": 1, "notify_outbox": {"entries": 1, "oldest_age_seconds": 40.2},
    }


def test_status_fits_80_columns_and_starts_with_trading():
    text = render_status(crowded_status())
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(line for line in lines if len(line) > 80)
    # Trading comes first: right after the header line, before alerts, health and queues.
    titles = [line for line in lines if line and not line.startswith(" ")]
    assert titles[1:4] == ["Trading", "Active alerts (2)", "Health checks (overall: degraded)"], titles
    trading = lines[lines.index("Trading") + 1:lines.index("Active alerts (2)")]
    assert trading[0].split()[:3] == ["State", "PAUSED", "(recovery:"] and trading[0].endswith("…")
    assert trading[1].split() == ["P&L", "today", "-$210.25", "P&L", "total", "+$1,234.50"]
    assert trading[2].split() == ["Drawdown", "11.26%", "(max", "11.26%)", "Positions", "3"]
    # Cut with an ellipsis, never wrapped: the long title is one line, and the rows after it are the next alert.
    large = next(line for line in lines if "large_loss" in line)
    assert large.split()[0] == "CRITICAL" and "…" in large and large.rstrip().endswith(
        time.strftime("%H:%M", time.gmtime(NOW - 600)))
    below = lines[lines.index(large) + 1]
    assert below.split()[:3] == ["acknowledged", "by", "alice"]
    assert lines[lines.index(large) + 2].split()[0] == "EMERGENCY"
    # The message column gives up width, the check names keep theirs; "not configured" is said once.
    row = next(line for line in lines if line.strip().startswith("exchange_connectivity") and "not" in line)
    assert row.split()[:4] == ["exchange_connectivity", "not", "configured", "no"]
    assert any(line.split()[:6] == ["ingest", "0", "metrics", "1", "rules", "2"] for line in lines)
    assert "  dead letters         1" in lines


@pytest.mark.parametrize("width", [60, 80, 100, 120])
def test_status_never_exceeds_its_width(width):
    lines = render_status(crowded_status(), width=width).splitlines()
    assert max(len(line) for line in lines) <= width


def test_fit_widths_gives_the_message_column_what_is_left():
    assert fit_widths([10, 5, 100, 8], 78, flexible=2) == [10, 5, 49, 8]  # 3 gaps of 2
    assert fit_widths([10, 5, 20, 8], 78, flexible=2) == [10, 5, 20, 8]  # fits: untouched
    names_cut = fit_widths([40, 9, 100, 5], 78, flexible=2)
    assert names_cut[0] == 22 and sum(names_cut) + 6 == 78
