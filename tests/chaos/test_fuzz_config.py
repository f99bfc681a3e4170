"""Scenario 6 (bad input), configuration part: whatever a config document or file holds, loading it either
succeeds or raises ConfigError, every problem names where it is, and no secret value is echoed back.

`bench/fuzz.py` runs the same properties with many more examples.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphwiz_monitoring.config import MASK, SECRET_KEYS, Settings, load_settings, parse_settings
from graphwiz_monitoring.errors import ConfigError
from tests.chaos.strategies import config_data, config_file_bytes, config_mutation

pytestmark = pytest.mark.chaos

ENV = {"HOME": "/home/trader", "X": "7"}  # a fixed environment: ${VAR} results do not depend on the machine
EXAMPLES = 250
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FILE_PREFIXES = ("not valid YAML", "not UTF-8 text", "cannot read config file")
MIN_SECRET_CHARS = 8  # shorter strings ("true", "warning") occur in messages for innocent reasons


def placed_values(node: Any, under_secret: bool = False) -> Iterator[tuple[str, bool]]:
    """Every string of the document, with whether it sits under a secret-named key (webhook_url, token,
    password, headers, ...)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from placed_values(value, under_secret or str(key) in SECRET_KEYS)
    elif isinstance(node, list):
        for value in node:
            yield from placed_values(value, under_secret)
    elif isinstance(node, str):
        yield node, under_secret


def secret_values(data: Any) -> set[str]:
    """Strings placed under a secret-named key and nowhere else: the same text given as a plain value
    elsewhere in the document may rightly be echoed by that value's own error."""
    placed = list(placed_values(data))
    plain = {text for text, secret in placed if not secret}
    return {text for text, secret in placed
            if secret and text not in plain and len(text) >= MIN_SECRET_CHARS and text != MASK}


def check_problems(exc: ConfigError, data: Any) -> None:
    """Each problem starts with ``(root)`` or a key path that begins with one of the document's own keys."""
    assert exc.problems, "ConfigError without problems"
    top = [str(k) for k in data] if isinstance(data, dict) else []
    for problem in exc.problems:
        assert problem.startswith("(root)") or any(problem.startswith((f"{k}:", f"{k}.", f"{k}[")) for k in top), problem
    text = str(exc)
    for secret in secret_values(data):
        assert secret not in text, f"secret value echoed in: {text[:500]}"


def outcome(data: Any) -> Settings | ConfigError:
    try:
        return parse_settings(data, env=ENV)
    except ConfigError as exc:  # anything else propagates and fails the test
        return exc


def test_random_config_documents_give_settings_or_config_error() -> None:
    seen = {"ok": 0, "error": 0}

    @FUZZ
    @given(data=config_data())
    def run(data: Any) -> None:
        result = outcome(data)
        if isinstance(result, ConfigError):
            check_problems(result, data)
        seen["ok" if isinstance(result, Settings) else "error"] += 1

    run()
    assert seen["error"] > EXAMPLES // 2  # random documents are mostly wrong: the errors were exercised


def test_one_bad_value_in_a_full_config_is_reported_at_its_key_path() -> None:
    seen = {"ok": 0, "error": 0}

    @FUZZ
    @given(mutation=config_mutation())
    def run(mutation: tuple[dict[str, Any], tuple[str, ...]]) -> None:
        doc, path = mutation
        result = outcome(doc)
        if isinstance(result, Settings):
            seen["ok"] += 1
            return
        seen["error"] += 1
        check_problems(result, doc)
        # The problem is located: its section, and within it the sub-key that was changed.
        assert any(p.startswith(path[0]) and (len(path) < 2 or str(path[1]) in p) for p in result.problems), (
            path, result.problems)

    run()
    # Both outcomes exercised. The split shifts whenever a setting is added (the examples are derandomized
    # over the schema), so the bound for valid mutations is loose on purpose.
    assert seen["error"] > 50 and seen["ok"] >= 3


def test_config_files_of_any_content_give_settings_or_config_error(tmp_path: Path) -> None:
    file = tmp_path / "monitoring.yaml"
    marker = tmp_path / "executed"
    slowest = [0.0]

    @settings(FUZZ, max_examples=EXAMPLES // 4)  # PyYAML is slow on the deeply nested ones
    @given(content=config_file_bytes() | st.just(f"x: !!python/object/apply:os.system ['touch {marker}']".encode()))
    def run(content: bytes) -> None:
        file.write_bytes(content)
        started = time.monotonic()
        try:
            load_settings(file, env=ENV)
        except ConfigError as exc:
            assert exc.problems and exc.source == str(file)
            if not exc.problems[0].startswith(FILE_PREFIXES):
                import yaml

                check_problems(exc, yaml.safe_load(content.decode()))
        slowest[0] = max(slowest[0], time.monotonic() - started)

    run()
    assert not marker.exists(), "a YAML tag executed code"
    assert slowest[0] < 5, f"one file took {slowest[0]:.1f}s to load"


@pytest.mark.parametrize("content, problem", [
    (b"monitoring:\n  prometheus_port: \xff\xfe\n", "not UTF-8 text"),
    (b"monitoring: " + b"[" * 1000 + b"]" * 1000, "not valid YAML: nested too deeply"),
    (b"monitoring: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    (b"monitoring:\n  prometheus_port: 70000\n  bogus: 1\n", "monitoring.prometheus_port: must be 1..65535"),
])
def test_known_bad_files_are_config_errors(tmp_path: Path, content: bytes, problem: str) -> None:
    """Regressions found by the fuzz: undecodable and deeply nested files used to escape as other errors."""
    file = tmp_path / "monitoring.yaml"
    file.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_settings(file, env=ENV)
    assert info.value.problems[0].startswith(problem), info.value.problems


def test_deeply_nested_mapping_is_a_config_error() -> None:
    data: dict[str, Any] = {}
    node = data
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_settings({"alerts": data}, env=ENV)


def test_check_config_command_reports_problems_not_tracebacks(tmp_path: Path) -> None:
    import subprocess
    import sys

    file = tmp_path / "bad.yaml"
    file.write_bytes(b"notifications:\n  discord:\n    webhook_url: [https://discord.example/api/webhooks/1/SECRETxyz]\n"
                     b"monitoring:\n  prometheus_port: -1\n")
    out = subprocess.run([sys.executable, "-m", "graphwiz_monitoring.cli", "check-config", "--config", str(file)],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "GRAPHWIZ_REDIS_URL": ""})
    assert out.returncode == 1
    assert "monitoring.prometheus_port" in out.stderr and "notifications.discord.webhook_url" in out.stderr
    assert "Traceback" not in out.stderr and "SECRETxyz" not in out.stderr + out.stdout
