"""Log channel: one line per notification at the configured level; data cannot forge log lines."""

from __future__ import annotations

import logging

from graphwiz_monitoring.alerting.channels.log import LOGGER_NAME, LogChannel
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity
from graphwiz_monitoring.config import LogSettings


def _alert(**kw) -> Alert:
    return Alert(**{"rule_name": "high_cpu", "title": "High CPU", "message": "95%", "severity": AlertSeverity.WARNING,
                    "labels": {"host": "h1"}, "alert_id": "id1", **kw})


def test_line_and_level(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    LogChannel(LogSettings(level="error")).send(_alert(), "firing")
    LogChannel(LogSettings(level="info")).send(_alert(), "resolved")
    first, second = caplog.records
    assert first.levelno == logging.ERROR
    assert first.getMessage() == "ALERT [WARNING] High CPU: 95% | rule=high_cpu alert_id=id1 host=h1"
    assert second.levelno == logging.INFO and second.getMessage().startswith("ALERT [RESOLVED] [WARNING] High CPU")


def test_newlines_cannot_forge_lines(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    LogChannel(LogSettings()).send(_alert(message="ok\nERROR fake line\r"), "firing")
    assert "\n" not in caplog.records[0].getMessage() and "ok\\nERROR fake line\\r" in caplog.records[0].getMessage()


def test_dead_letter_notice_is_always_error(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    LogChannel(LogSettings(level="debug")).dead_letter_notice("discord", _alert(), "id1", "firing", "discord: HTTP 500")
    LogChannel(LogSettings()).dead_letter_notice("slack", None, "gone", "resolved", "alert record not found")
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR]
    assert "via discord" in caplog.records[0].getMessage() and "High CPU" in caplog.records[0].getMessage()
    assert "alert gone (resolved)" in caplog.records[1].getMessage()
