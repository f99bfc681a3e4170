"""Flower's options come from the settings; it never runs exposed without basic auth."""

from __future__ import annotations

import runpy

import pytest

from graphwiz_monitoring import context
from graphwiz_monitoring.celery.flower import FLOWER_CONFIG_FILE, flower_command, flower_options, is_loopback
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import ConfigError


def test_options_carry_address_port_auth_and_events() -> None:
    settings = parse_settings({"flower": {"host": "0.0.0.0", "port": 5600, "basic_auth_user": "ops",
                                          "basic_auth_password": "${FP}"}}, env={"FP": "pa:ss,word"})
    options = flower_options(settings)
    assert options["address"] == "0.0.0.0" and options["port"] == 5600
    assert options["basic_auth"] == ["ops:pa:ss,word"]  # a list: Flower would split a string on commas
    assert options["enable_events"] is True
    assert "args" in options["tasks_columns"].split(",")


def test_exposed_flower_requires_a_password_loopback_does_not() -> None:
    for host in ("0.0.0.0", "10.0.0.5", "flower.example"):
        with pytest.raises(ConfigError, match="flower.basic_auth_password"):
            flower_options(parse_settings({"flower": {"host": host, "basic_auth_password": ""}}, env={}))
    assert "basic_auth" not in flower_options(parse_settings({}, env={}))
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    with pytest.raises(ConfigError, match="basic_auth_user"):
        parse_settings({"flower": {"basic_auth_user": "a:b"}}, env={})


def test_flowerconfig_file_exposes_the_options_from_the_configured_settings(tmp_path, monkeypatch) -> None:
    config = tmp_path / "m.yaml"
    config.write_text("flower:\n  host: 0.0.0.0\n  port: 5611\n  basic_auth_password: ${FLOWER_PASSWORD}\n")
    monkeypatch.setenv("GRAPHWIZ_CONFIG", str(config))
    monkeypatch.setenv("FLOWER_PASSWORD", "hunter2")
    context.reset()
    try:
        namespace = runpy.run_path(str(FLOWER_CONFIG_FILE))  # how Flower's --conf executes it
    finally:
        context.reset()
    assert namespace["port"] == 5611 and namespace["basic_auth"] == ["admin:hunter2"]
    argv = flower_command(("--logging=warning",))
    assert argv[1:6] == ["-m", "celery", "-A", "graphwiz_monitoring", "flower"]
    assert argv[6] == f"--conf={FLOWER_CONFIG_FILE}" and argv[-1] == "--logging=warning"


def test_the_flower_command_refuses_to_start_exposed_without_a_password(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from graphwiz_monitoring.cli import main

    config = tmp_path / "m.yaml"
    config.write_text("flower:\n  host: 0.0.0.0\n")
    monkeypatch.setenv("GRAPHWIZ_CONFIG", str(config))  # restored afterwards (the CLI re-exports it)
    try:
        result = CliRunner().invoke(main, ["--config", str(config), "flower"])
    finally:
        context.reset()
    assert result.exit_code == 1 and "flower.basic_auth_password" in result.output
