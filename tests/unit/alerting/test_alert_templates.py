"""Message templates: unknown fields and attribute tricks fail at load, rendering never raises."""

from __future__ import annotations

import pytest

from graphwiz_monitoring.errors import RuleError
from graphwiz_monitoring.rulebook.templates import KNOWN_FIELDS, Template, field_values


@pytest.mark.parametrize("text, problem", [
    ("Drawdown {drawdwn_percent}", "unknown field {drawdwn_percent}"),
    ("{rule.__class__}", "attribute/index access"),
    ("{rule.__class__.__init__.__globals__}", "attribute/index access"),
    ("{severity[0]}", "attribute/index access"),
    ("{}", "positional"),
    ("{0}", "positional"),
    ("{value:{threshold}}", "nested"),
    ("{value!a}", "conversion"),
    ("{value:>100000000}", "width/precision"),
    ("{value:.999f}", "width/precision"),
    ("unbalanced {", "Single '{'"),
    ("unbalanced }", "Single '}'"),
    ("{_private}", "invalid field name"),
])
def test_bad_templates_are_rule_errors_at_load(text: str, problem: str) -> None:
    with pytest.raises(RuleError, match=problem.replace("{", r"\{").replace("[", r"\[").replace("(", r"\(")):
        Template(text, KNOWN_FIELDS)


def test_render_fills_fields_and_never_raises() -> None:
    t = Template("{rule}: {value:.2f} vs {threshold:.0%} on {exchange} ({p99_latency!r})",
                 KNOWN_FIELDS | {"exchange"})
    assert t.fields == {"rule", "value", "threshold", "exchange", "p99_latency"}
    assert t.render({"rule": "r", "value": 1.234, "threshold": 0.1, "exchange": "binance", "p99_latency": 2}) == \
        "r: 1.23 vs 10% on binance (2)"
    # missing values print n/a even with a numeric spec; a spec that does not suit the value falls back
    assert t.render({"value": "text", "threshold": None}) == "n/a: text vs n/a on n/a (n/a)"


def test_literal_braces_and_plain_text() -> None:
    assert Template("{{literal}} {rule}", {"rule"}).render({"rule": "x"}) == "{literal} x"
    assert Template("", set()).render({}) == ""


def test_field_values_narrow_to_labels() -> None:
    snap = {"trading": {"current_drawdown": 0.125, "win_rate": 0.5},
            "exchanges": {"binance": {"p99_latency": 7.5, "connected": False}},
            "agents": {"a1": {"failures": 6}},
            "system": {"cpu_percent": 99, "disk_percent": 97,
                       "hosts": {"h1": {"cpu_percent": 42, "disks": {"/": 97, "/data": 55}}}}}
    values = field_values(snap, {"exchange": "binance", "host": "h1", "mount": "/data", "agent": "a1"})
    assert values["drawdown_percent"] == 12.5 and values["win_rate_percent"] == 50
    assert values["p99_latency"] == 7.5 and values["connected"] is False
    assert values["failures"] == 6
    assert values["cpu_percent"] == 42 and values["disk_percent"] == 55  # the host's and mount's, not the max
    assert values["exchange"] == "binance"
    assert field_values({}, {})["cpu_percent"] is None
