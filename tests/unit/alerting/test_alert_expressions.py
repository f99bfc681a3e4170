"""The rule expression language: grammar, three-valued logic, wildcards, and what it refuses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphwiz_monitoring.errors import RuleError
from graphwiz_monitoring.rulebook.expressions import compile_expression

SNAP = {
    "trading": {"current_drawdown": 0.12, "pnl_usd": -50.0, "total_trades": 10},
    "risk": {"leverage": 2.5},
    "exchanges": {
        "binance": {"p99_latency": 6.0, "connected": True, "error_rate": 0.2},
        "kraken": {"p99_latency": 1.0, "connected": False, "error_rate": 0.0},
        "gate.io": {"p99_latency": None, "connected": None},
    },
    "system": {"hosts": {"h1": {"cpu_percent": 95, "disks": {"/": 91, "/var": 10}},
                         "h2": {"cpu_percent": 10, "disks": {"/": 99}}}},
    "neo4j": {"connected": None},
}


def ev(text: str, snap=SNAP):
    return compile_expression(text).evaluate(snap)


@pytest.mark.parametrize("text, expected", [
    ("trading.current_drawdown > 0.05 and risk.leverage >= 2", True),
    ("trading.current_drawdown > 0.05 and risk.leverage >= 3", False),
    ("trading.current_drawdown > 0.5 or risk.leverage < 3", True),
    ("not (risk.leverage > 3)", True),
    ("trading.pnl_usd * -2 == 100", True),
    ("trading.total_trades % 3 == 1", True),
    ("(trading.pnl_usd + 50) / 10 == 0", True),
    ("trading.total_trades // 3 == 3", True),
    ("0 < risk.leverage < 3", True),
    ("0 < risk.leverage < 2", False),
    ("-risk.leverage == -2.5", True),
    ("exchanges['gate.io'].connected == None", True),
    ("exchanges[\"binance\"].p99_latency > 5", True),
    ("count(exchanges.*.connected == False) == 1", True),
    ("sum(exchanges.*.p99_latency) == 7", True),
    ("max(exchanges.*.p99_latency) > 5 and min(exchanges.*.p99_latency) < 2", True),
    ("max(risk.leverage, trading.current_drawdown) == 2.5", True),
    ("abs(trading.pnl_usd) == 50", True),
    ("all(system.hosts.*.cpu_percent > 5)", True),
    ("all(system.hosts.*.cpu_percent > 50)", False),
    ("'abc' == 'abc'", True),
    ("true and not false", True),
    ("1e3 == 1000", True),
])
def test_values(text: str, expected: bool) -> None:
    assert ev(text).value is expected


@pytest.mark.parametrize("text", [
    "neo4j.connected == False",      # missing data never fires ...
    "not neo4j.connected",
    "neo4j.connected != True",
    "trading.nothing > 1",
    "unknown.section.deep == 3",
    "trading.current_drawdown / 0 > 1",
    "trading.pnl_usd + 'x' == 1",
    "'abc' * 3 == 'abcabcabc'",      # no string repetition (memory bombs)
    "trading > 1",                    # a dict is not a value
    "all(exchanges.*.p99_latency > 0)",  # gate.io unknown -> unknown
    "all(nothing.* > 1)",             # all() over nothing is unknown, not True
    "max(nothing.*) > 1",
])
def test_missing_or_mistyped_data_never_fires(text: str) -> None:
    result = ev(text)
    assert result.value is not True
    assert not result.fired and result.matches == ()


def test_kleene_logic() -> None:
    assert ev("neo4j.connected == False or risk.leverage > 2").value is True
    assert ev("neo4j.connected == False and risk.leverage > 5").value is False
    assert ev("neo4j.connected == False and risk.leverage > 2").value is None
    assert ev("neo4j.connected == None").value is True
    assert ev("risk.leverage != None").value is True


def test_any_returns_each_matching_binding() -> None:
    result = ev("any(exchanges.*.p99_latency > 0.5)")
    assert result.fired
    assert [m.label_dict for m in result.matches] == [{"exchange": "binance"}, {"exchange": "kraken"}]
    assert [m.value for m in result.matches] == [6.0, 1.0]


def test_bare_wildcard_means_any_per_binding() -> None:
    result = ev("exchanges.*.connected == False")
    assert [m.label_dict for m in result.matches] == [{"exchange": "kraken"}]
    assert compile_expression("exchanges.*.connected == False").labels == ("exchange",)


def test_nested_wildcards_bind_host_and_mount() -> None:
    result = ev("any(system.hosts.*.disks.* > 90)")
    assert [m.label_dict for m in result.matches] == [{"host": "h1", "mount": "/"}, {"host": "h2", "mount": "/"}]
    assert [m.value for m in result.matches] == [91, 99]


def test_same_prefix_is_the_same_variable() -> None:
    # kraken is disconnected but has no latency problem; binance is the reverse: no exchange has both
    assert not ev("any(exchanges.*.connected == False and exchanges.*.p99_latency > 5)").fired
    result = ev("any(exchanges.*.connected and exchanges.*.error_rate > 0.1)")
    assert [m.label_dict for m in result.matches] == [{"exchange": "binance"}]
    assert result.matches[0].value == 0.2  # the comparison's left side, not the bare truth value


def test_aggregates_do_not_leak_labels() -> None:
    expr = compile_expression("count(exchanges.*.connected == False) >= 1")
    assert expr.labels == ()
    result = expr.evaluate(SNAP)
    assert result.fired and result.matches[0].labels == () and result.matches[0].value == 1


def test_scalar_rule_reports_observed_value_and_sections() -> None:
    expr = compile_expression("trading.current_drawdown > 0.1 and risk.leverage > 1")
    assert expr.sections == {"trading", "risk"}
    assert expr.evaluate(SNAP).matches[0].value == 0.12


def test_empty_or_unrelated_snapshot() -> None:
    expr = compile_expression("any(exchanges.*.p99_latency > 5)")
    assert expr.evaluate({}).value is False
    assert expr.evaluate({"exchanges": [1, 2]}).value is False
    assert expr.evaluate({"exchanges": {"x": "not a dict"}}).value is None  # unknown, not False


@pytest.mark.parametrize("text", [
    "__class__", "trading.__class__", "trading._private > 1", "exchanges['__globals__'].x",
    "().__class__.__bases__[0]", "trading.__dict__", "eval('1')", "exec('x')", "__import__('os')",
    "open('/etc/passwd')", "getattr(trading, 'x')", "lambda: 1", "trading.x(1)", "[1, 2]", "{'a': 1}",
    "trading.x if True else 1", "a := 1", "2 ** 10", "trading.x[0]", "x.*y", "f'{x}'", "a; b", "a = 1",
    "", "   ", "1 +", "(1", "1)", "and", "not", "trading.", "'unterminated", "1 2", "a..b", "any()",
    "any(a, b)", "abs(1, 2)", "count()", "@x", "a ~ b", "a in b", "a is None", "True.x", "any.x",
])
def test_rejected_at_load(text: str) -> None:
    with pytest.raises(RuleError):
        compile_expression(text)


def test_dunder_error_says_why() -> None:
    with pytest.raises(RuleError, match="'_'"):
        compile_expression("trading.__class__.__init__")
    with pytest.raises(RuleError, match="unknown function 'eval'"):
        compile_expression("eval('1')")


def test_size_and_depth_limits() -> None:
    with pytest.raises(RuleError):
        compile_expression("(" * 500 + "1" + ")" * 500)
    with pytest.raises(RuleError):
        compile_expression("1" + " + 1" * 1000)
    with pytest.raises(RuleError):
        compile_expression("not " * 2000 + "x")
    with pytest.raises(RuleError):
        compile_expression("x" * 5000)
    with pytest.raises(RuleError):
        compile_expression(123)  # type: ignore[arg-type]


ALPHABET = st.sampled_from(list("abcxyz_.*()[]'\"<>=!+-/%, 0123456789eE\\\n\t") +
                           ["any(", "all(", "count(", "sum(", "max(", "and", "or", "not", "None", "True",
                            "__class__", "exchanges.*.", "trading.", "**", "//", "==", ">="])


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_random_text_only_ever_raises_rule_error(text: str) -> None:
    try:
        expr = compile_expression(text)
    except RuleError:
        return
    expr.evaluate(SNAP)  # anything accepted must evaluate without raising


@settings(max_examples=600, deadline=None)
@given(st.lists(ALPHABET, max_size=40).map("".join))
def test_random_token_soup_only_ever_raises_rule_error(text: str) -> None:
    try:
        expr = compile_expression(text)
    except RuleError:
        return
    result = expr.evaluate(SNAP)
    assert result.value in (True, False, None)


def test_observe_gives_the_value_now_for_an_alerts_labels_breached_or_not():
    """The status page's "now" beside "at breach": the left side of the condition for the alert's labels."""
    snapshot = {"trading": {"current_drawdown": 0.05},
                "exchanges": {"binance": {"p99_latency": 0.3}, "kraken": {"p99_latency": 7.0}},
                "system": {"hosts": {"h1": {"disks": {"/": 50.0, "/data": 97.0}}}}}
    assert compile_expression("trading.current_drawdown > 0.1").observe(snapshot, {}) == 0.05
    latency = compile_expression("any(exchanges.*.p99_latency > 5)")
    assert latency.observe(snapshot, {"exchange": "binance"}) == 0.3  # not breached: still its value
    assert latency.observe(snapshot, {"exchange": "kraken"}) == 7.0
    assert latency.observe(snapshot, {"exchange": "gone"}) is None
    assert latency.observe(snapshot, {}) is None  # a wildcard the labels do not bind
    disks = compile_expression("any(system.hosts.*.disks.* > 90)")
    assert disks.observe(snapshot, {"host": "h1", "mount": "/data"}) == 97.0
    assert compile_expression("neo4j.connected == False").observe({"neo4j": {"connected": False}}, {}) is None
