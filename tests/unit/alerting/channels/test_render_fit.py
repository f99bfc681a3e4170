"""Shared presentation: truncation that never breaks an escape, fields, resolved marking, colours."""

from __future__ import annotations

import html

from hypothesis import given
from hypothesis import strategies as st

from graphwiz_monitoring.alerting.channels.discord import escape_markdown
from graphwiz_monitoring.alerting.channels.render import ELLIPSIS, RESOLVED_COLOR, View, field_text, fit
from graphwiz_monitoring.alerting.models import Alert, AlertSeverity


def _html(text: str) -> str:
    return html.escape(text, quote=False)


@given(st.text(alphabet="ab<>&_*\\ ", max_size=300), st.integers(min_value=2, max_value=120))
def test_fit_respects_the_limit_and_never_cuts_an_html_entity(text, limit):
    out = fit(text, limit, _html)
    assert len(out) <= limit
    body = out.removesuffix(ELLIPSIS)
    assert text.startswith(html.unescape(body))  # a whole-entity prefix of the original


@given(st.text(alphabet="ab*_~`|[]>#\\", max_size=300), st.integers(min_value=2, max_value=120))
def test_fit_never_leaves_a_dangling_markdown_escape(text, limit):
    out = fit(text, limit, escape_markdown)
    assert len(out) <= limit
    body = out.removesuffix(ELLIPSIS)
    raw = _unescape_md(body)
    assert text.startswith(raw) and escape_markdown(raw) == body  # no half escape at the cut


def _unescape_md(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def test_fit_short_text_is_unchanged():
    assert fit("abc", 3) == "abc"
    assert fit("abcd", 3) == "ab" + ELLIPSIS


def test_view_marks_resolved_and_orders_fields():
    alert = Alert(rule_name="r", title="Disk full", message="m", severity=AlertSeverity.CRITICAL,
                  labels={"mount": "/"}, metadata={"mount": "dup", "percent": 97.5, "top": ["a", "b"]},
                  created_at=1_700_000_000.0, resolved_at=1_700_000_600.0)
    firing, resolved = View(alert, "firing"), View(alert, "resolved")
    assert firing.subject == "[CRITICAL] Disk full" and firing.headline == "Disk full"
    assert resolved.subject == "[RESOLVED] [CRITICAL] Disk full" and resolved.headline == "[RESOLVED] Disk full"
    assert firing.color == 0xFF0000 and resolved.color == RESOLVED_COLOR
    assert firing.timestamp == "2023-11-14T22:13:20+00:00" and resolved.timestamp == "2023-11-14T22:23:20+00:00"
    assert firing.fields == [("mount", "/"), ("percent", "97.5"), ("top", '["a", "b"]')]
    assert firing.footer == "Severity: CRITICAL"


def test_field_text():
    assert field_text({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
    assert field_text(None) == "None" and field_text(3) == "3"
