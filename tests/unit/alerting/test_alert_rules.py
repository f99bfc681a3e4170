"""Rules: the 15 built-ins (firing, not firing, fingerprint labels), overrides, YAML rules, rule modules."""

from __future__ import annotations

import textwrap

import pytest

from graphwiz_monitoring.alerting.models import AlertChannel, AlertSeverity
from graphwiz_monitoring.alerting.rules import BUILTIN_RULES, AlertRule, RuleRegistry, load_rules
from graphwiz_monitoring.config import CooldownSettings, parse_settings
from graphwiz_monitoring.errors import ConfigError, RuleError

QUIET = {
    "system": {"cpu_percent": 10, "memory_percent": 20, "disk_percent": 30,
               "hosts": {"h1": {"cpu_percent": 10, "memory_percent": 20, "disks": {"/": 30}}}},
    "trading": {"current_drawdown": 0.02, "pnl_usd": 5.0},
    "exchanges": {"binance": {"connected": True, "p99_latency": 0.2, "rate_limit_remaining": 900},
                  "kraken": {"connected": True, "p99_latency": 0.3, "rate_limit_remaining": 500}},
    "agents": {"momentum": {"failures": 0}, "mean_rev": {"failures": 1}},
    "risk": {"leverage": 1.2},
    "neo4j": {"connected": True},
    "traders": {"alpha": {"stale": False}, "beta": {"stale": None}},
    "monitoring": {"beat_age_seconds": 1.5, "notify_dead_lettered_age_seconds": 4000.0, "redis_memory_percent": 40.0,
                   "queues": {"ingest": {"length": 0, "consumers": 0}, "notify.log": {"length": 2, "consumers": 1}}},
}


def breach(path: str, value) -> dict:
    import copy

    snap = copy.deepcopy(QUIET)
    node = snap
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value
    return snap


# rule -> (snapshot path to breach, breaching value, expected labels, fragment of the message)
CASES = {
    "high_cpu": ("system.hosts.h1.cpu_percent", 95.5, {"host": "h1"}, "CPU usage at 95.5% on h1"),
    "high_memory": ("system.hosts.h1.memory_percent", 93, {"host": "h1"}, "Memory usage at 93.0% on h1"),
    "exchange_disconnect": ("exchanges.kraken.connected", False, {"exchange": "kraken"}, "exchange kraken"),
    "high_latency": ("exchanges.kraken.p99_latency", 6.5, {"exchange": "kraken"}, "on kraken is 6.500s"),
    "large_loss": ("trading.current_drawdown", 0.125, {}, "12.50% exceeds 10.0%"),
    "rate_limit": ("exchanges.binance.rate_limit_remaining", 3, {"exchange": "binance"}, "Only 3 requests"),
    "neo4j_disconnect": ("neo4j.connected", False, {}, "Neo4j"),
    "agent_failure": ("agents.mean_rev.failures", 6, {"agent": "mean_rev"}, "Agent mean_rev failed 6 times"),
    "risk_limit_breach": ("risk.leverage", 3.5, {}, "Leverage 3.50x exceeds the 3x limit"),
    "disk_space": ("system.hosts.h1.disks./", 95, {"host": "h1", "mount": "/"}, "Disk / on h1 at 95.0%"),
    "trader_down": ("traders.alpha.stale", True, {"trader": "alpha"}, "Trader alpha stopped reporting"),
    # Self-monitoring (issue 15 item 5): the snapshot's monitoring section.
    "beat_down": ("monitoring.beat_age_seconds", 95, {}, "No beat has ticked for 95s"),
    "queue_unconsumed": ("monitoring.queues.ingest.length", 4, {"queue": "ingest"}, "Tasks wait in ingest"),
    "notify_dead_letters": ("monitoring.notify_dead_lettered_age_seconds", 30, {}, "dead-lettered 30s ago"),
    "redis_memory_high": ("monitoring.redis_memory_percent", 91.5, {}, "Redis memory at 92% of maxmemory"),
}

REFERENCE = {  # ../shared/REFERENCE.md: severity, channels; cooldown: the severity table (issue 13 item 2)
    "high_cpu": ("warning", "discord slack log", 300), "high_memory": ("warning", "discord slack log", 300),
    "exchange_disconnect": ("critical", "discord slack email log", 60),
    "high_latency": ("warning", "discord slack log", 300),
    "large_loss": ("critical", "discord slack email log", 60), "rate_limit": ("warning", "discord log", 300),
    "neo4j_disconnect": ("critical", "discord slack email log", 60), "agent_failure": ("warning", "discord log", 300),
    "risk_limit_breach": ("emergency", "discord slack email telegram log", 10),
    "disk_space": ("warning", "discord log", 300),
    "trader_down": ("critical", "discord slack email log", 60),  # issue 13 item 3
    "beat_down": ("critical", "discord slack email log", 60), "queue_unconsumed": ("critical", "discord slack email log", 60),
    "notify_dead_letters": ("warning", "discord slack log", 300), "redis_memory_high": ("warning", "discord slack log", 300),
}


@pytest.fixture(scope="module")
def registry() -> RuleRegistry:
    return load_rules(parse_settings({}, env={}).alerts)


def test_builtins_with_reference_defaults(registry: RuleRegistry) -> None:
    assert sorted(registry.names()) == sorted(CASES) == sorted(BUILTIN_RULES)
    for name, (severity, channels, cooldown) in REFERENCE.items():
        rule = registry.get(name)
        assert rule.severity.value == severity, name
        assert [c.value for c in rule.channels] == channels.split(), name
        assert rule.cooldown(CooldownSettings()) == cooldown, name
        assert rule.cooldown(CooldownSettings(warning=7, critical=8, emergency=9)) == {
            "warning": 7, "critical": 8, "emergency": 9}[severity], name  # built-ins follow alerts.cooldowns


@pytest.mark.parametrize("name", sorted(CASES))
def test_builtin_fires_with_fingerprint_labels(registry: RuleRegistry, name: str) -> None:
    rule = registry.get(name)
    assert rule.evaluate(QUIET) == []
    path, value, labels, fragment = CASES[name]
    snap = breach(path, value)
    matches = rule.evaluate(snap)
    assert [m.label_dict for m in matches] == [labels]
    title, message = rule.render(matches[0], snap)
    assert fragment in title + " " + message
    assert "n/a" not in message or name == "large_loss"


@pytest.mark.parametrize("name", sorted(CASES))
def test_builtin_never_fires_on_missing_data(registry: RuleRegistry, name: str) -> None:
    rule = registry.get(name)
    assert rule.evaluate({}) == []
    path, _, _, _ = CASES[name]
    assert rule.evaluate(breach(path, None)) == []


def test_per_exchange_rule_names_every_matching_exchange(registry: RuleRegistry) -> None:
    snap = breach("exchanges.binance.connected", False)
    snap["exchanges"]["kraken"]["connected"] = False
    assert [m.label_dict["exchange"] for m in registry.get("exchange_disconnect").evaluate(snap)] == \
        ["binance", "kraken"]


def test_fast_path_selection(registry: RuleRegistry) -> None:
    fast = {r.name for r in registry if r.fast}
    assert fast == {"exchange_disconnect", "high_latency", "large_loss", "rate_limit", "neo4j_disconnect",
                    "agent_failure", "risk_limit_breach",
                    # the pipeline's own health: the fast path is the one evaluation that needs no beat
                    "beat_down", "queue_unconsumed", "notify_dead_letters", "redis_memory_high"}


def test_overrides_apply() -> None:
    settings = parse_settings({"alerts": {"rules": {
        "high_cpu": {"threshold": 50, "severity": "CRITICAL", "channels": ["Log"], "cooldown_seconds": 7,
                     "for_seconds": 3},
        "disk_space": {"enabled": False}}}}, env={})
    reg = load_rules(settings.alerts)
    cpu = reg.get("high_cpu")
    assert cpu.threshold == 50 and cpu.severity is AlertSeverity.CRITICAL
    assert cpu.channels == [AlertChannel.LOG] and cpu.cooldown_seconds == 7 and cpu.for_seconds == 3
    assert [m.label_dict for m in cpu.evaluate(breach("system.hosts.h1.cpu_percent", 60))] == [{"host": "h1"}]
    assert reg.get("disk_space").enabled is False


@pytest.mark.parametrize("alerts, problem", [
    ({"rules": {"high_cpuu": {"threshold": 1}}}, "alerts.rules: .*high_cpuu: unknown built-in rule"),
    ({"rules": {"exchange_disconnect": {"threshold": 1}}}, "exchange_disconnect.threshold: this rule has no threshold"),
    ({"custom_rules": {"x": {"condition": "trading.__class__", "title": "t", "message": "m"}}},
     "alerts.custom_rules.x: condition .*not allowed"),
    ({"custom_rules": {"x": {"condition": "trading.pnl_usd < 0", "title": "t", "message": "{pnl}"}}},
     r"alerts.custom_rules.x: message: unknown field \{pnl\}"),
    ({"custom_rules": {"x": {"condition": "trading.pnl_usd < 0", "title": "{exchange}", "message": "m"}}},
     r"alerts.custom_rules.x: title: unknown field \{exchange\}"),
    ({"custom_rules": {"x": {"condition": "os.system('x')", "title": "t", "message": "m"}}},
     "alerts.custom_rules.x: condition"),
    ({"silences": [{"matchers": {}, "ends_at": "2030-01-01T00:00:00Z"}]}, "alerts.silences.0: .*at least one matcher"),
    ({"silences": [{"matchers": {"rule": "x"}, "ends_at": "tomorrow"}]}, "alerts.silences.0: .*ISO-8601"),
])
def test_config_errors_name_the_key(alerts: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_settings({"alerts": alerts}, env={})


def test_yaml_rules_load_with_their_labels() -> None:
    settings = parse_settings({"alerts": {"custom_rules": {
        "slow_and_leveraged": {
            "condition": "any(exchanges.*.p99_latency > 0.25) and risk.leverage >= 1",
            "severity": "critical", "channels": ["slack", "LOG"], "title": "Slow {exchange}",
            "message": "{exchange}: {p99_latency}s at {leverage}x [{team}]", "labels": {"team": "quant"},
            "for_seconds": 5}}}}, env={})
    rule = load_rules(settings.alerts).get("slow_and_leveraged")
    assert rule.severity is AlertSeverity.CRITICAL and rule.for_seconds == 5
    matches = rule.evaluate(QUIET)
    assert [m.label_dict for m in matches] == [{"exchange": "kraken"}]
    assert rule.render(matches[0], QUIET) == ("Slow kraken", "kraken: 0.3s at 1.2x [quant]")


def test_custom_rule_cannot_take_a_builtin_name() -> None:
    settings = parse_settings({"alerts": {"custom_rules": {
        "high_cpu": {"condition": "risk.leverage > 1", "title": "t", "message": "m"}}}}, env={})
    with pytest.raises(RuleError, match="taken by a built-in"):
        load_rules(settings.alerts)


def test_callable_conditions_like_the_original_example() -> None:
    rule = AlertRule(
        name="custom_drawdown",
        condition=lambda m: m.get("trading", {}).get("current_drawdown", 0) > 0.05,
        severity=AlertSeverity.WARNING, channels=[AlertChannel.DISCORD, AlertChannel.SLACK],
        title_template="Custom Drawdown Alert", message_template="Drawdown at {drawdown_percent}%",
        cooldown_seconds=600)
    assert rule.evaluate(QUIET) == []
    snap = breach("trading.current_drawdown", 0.07)
    (match,) = rule.evaluate(snap)
    assert rule.render(match, snap)[1].startswith("Drawdown at 7.0")
    assert rule.fast  # a callable may read anything


def test_callable_may_return_label_sets_and_may_raise() -> None:
    per_exchange = AlertRule(name="per_ex", condition=lambda s: [{"exchange": e} for e in s.get("exchanges", {})],
                             title_template="{exchange}")
    assert [m.label_dict for m in per_exchange.evaluate(QUIET)] == [{"exchange": "binance"}, {"exchange": "kraken"}]
    broken = AlertRule(name="broken", condition=lambda s: s["nope"]["x"] > 1)
    assert broken.evaluate(QUIET) is None  # skipped, not "resolved"


def test_callable_sees_unknown_values_left_out_so_the_original_example_takes_its_default(caplog) -> None:
    caplog.set_level("INFO", logger="graphwiz_monitoring.rulebook.rules")
    example = AlertRule(name="custom_drawdown", condition=lambda m: m.get("trading", {}).get("current_drawdown", 0) > 0.05)
    unknown = breach("trading.current_drawdown", None)  # no initial capital and no portfolio snapshot yet
    assert example.evaluate(unknown) == [] and caplog.records == []
    strict = AlertRule(name="strict", condition=lambda m: m["trading"]["current_drawdown"] > 0.05)
    assert strict.evaluate(unknown) is None  # KeyError: skipped, with the traceback logged once
    assert strict.evaluate(unknown) is None and strict.evaluate(unknown) is None
    assert [r.levelname for r in caplog.records] == ["ERROR"] and caplog.records[0].exc_info
    assert strict.evaluate(breach("trading.current_drawdown", 0.07))  # recovers, and says so
    assert [r.getMessage() for r in caplog.records][-1] == "alert rule strict: condition evaluates again"
    assert strict.evaluate(unknown) is None and len(caplog.records) == 3  # a new failure is logged again


@pytest.mark.parametrize("kwargs, problem", [
    ({"name": "bad name"}, "rule name"),
    ({"name": "a|b"}, "rule name"),
    ({"condition": 42}, "condition must be"),
    ({"severity": "loud"}, "unknown severity"),
    ({"channels": ["pager"]}, "unknown channel"),
    ({"channels": []}, "at least one channel"),
    ({"cooldown_seconds": -1}, "cooldown_seconds"),
    ({"for_seconds": float("nan")}, "for_seconds"),
    ({"message_template": "{value.__class__}"}, "attribute/index"),
    ({"condition": "lambda: 1"}, "condition"),
])
def test_alert_rule_validation(kwargs: dict, problem: str) -> None:
    args = {"name": "r", "condition": "risk.leverage > 1", **kwargs}
    with pytest.raises(RuleError, match=problem):
        AlertRule(**args)


def test_registry_refuses_duplicates() -> None:
    reg = RuleRegistry([AlertRule(name="a", condition="risk.leverage > 1")])
    with pytest.raises(RuleError, match="duplicate"):
        reg.register(AlertRule(name="a", condition="risk.leverage > 2"))


def test_rule_modules(tmp_path, monkeypatch) -> None:
    (tmp_path / "gw_rules_list.py").write_text(textwrap.dedent("""
        from graphwiz_monitoring.alerting.rules import AlertRule
        RULES = [AlertRule(name="mod_a", condition="risk.leverage > 1")]
    """))
    (tmp_path / "gw_rules_register.py").write_text(textwrap.dedent("""
        from graphwiz_monitoring.alerting.rules import AlertRule
        def register(registry):
            registry.register(AlertRule(name="mod_b", condition=lambda s: True))
    """))
    (tmp_path / "gw_rules_empty.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ok = parse_settings({"alerts": {"rule_modules": ["gw_rules_list", "gw_rules_register"]}}, env={})
    assert "mod_a" not in load_rules(ok.alerts)  # only workers import modules
    reg = load_rules(ok.alerts, load_modules=True)
    assert {"mod_a", "mod_b"} <= set(reg.names()) and len(reg) == len(BUILTIN_RULES) + 2
    bad = parse_settings({"alerts": {"rule_modules": ["gw_rules_empty", "gw_no_such_module"]}}, env={})
    with pytest.raises(RuleError) as err:
        load_rules(bad.alerts, load_modules=True)
    assert "gw_rules_empty: defines neither" in str(err.value) and "gw_no_such_module: cannot import" in str(err.value)
