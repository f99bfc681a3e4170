"""Every committed dashboard (dashboards/*.json) conforms to Grafana's dashboard schema for the Grafana version
docker-compose pins (npm @grafana/schema of that version, type-checked with tsc: tests/fakes/grafana_schema.py).

No Grafana server runs here; this is the check that a Grafana of that version would load the files as written.
The schema and tsc come from tools/grafana-schema (``npm ci`` there, done by ``make test``); missing, the test
fails with how to install them, it never skips.
"""

from __future__ import annotations

import json

import pytest

from tests.fakes.grafana_schema import (
    SCHEMA_DIR,
    TOOL_DIR,
    TSC,
    check_dashboards,
    installed_version,
    pinned_grafana_version,
)
from tests.fakes.promql_lint import DASHBOARD_DIR


@pytest.fixture(scope="module")
def schema_tools() -> None:
    if not (SCHEMA_DIR / "package.json").is_file() or not TSC.is_file():
        pytest.fail(f"@grafana/schema and typescript are not installed in {TOOL_DIR}; run `make test` "
                    f"(or `npm ci --prefix {TOOL_DIR.relative_to(TOOL_DIR.parents[1])}`)", pytrace=False)


def test_the_schema_is_the_one_of_the_pinned_grafana(schema_tools) -> None:
    pinned = pinned_grafana_version()
    lock = json.loads((TOOL_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@grafana/schema"]["version"] == pinned
    assert installed_version() == pinned, f"tools/grafana-schema has {installed_version()}: run npm ci there"


def test_every_committed_dashboard_conforms_to_the_grafana_schema(schema_tools, tmp_path) -> None:
    dashboards = {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARD_DIR.glob("*.json"))}
    assert len(dashboards) == 4
    errors = check_dashboards(dashboards, tmp_path)
    assert not errors, f"{len(errors)} schema error(s):\n" + "\n".join(str(e)[:600] for e in errors)


def test_the_check_finds_unknown_and_missing_fields(schema_tools, tmp_path) -> None:
    """The check itself can fail: an unknown dashboard key, a stat panel lacking a required option, a wrong enum."""
    main = json.loads((DASHBOARD_DIR / "graphwiz-main.json").read_text())
    main["refreshInterval"] = "5s"  # not a dashboard field
    stat = next(p for p in main["panels"] if p["type"] == "stat")
    del stat["options"]["colorMode"]
    timeseries = next(p for p in main["panels"] if p["type"] == "timeseries")
    timeseries["options"]["legend"]["displayMode"] = "sideways"
    errors = [str(e) for e in check_dashboards({"broken.json": main}, tmp_path)]
    assert any("refreshInterval" in e and e.startswith("broken.json: dashboard:") for e in errors), errors
    assert any("colorMode" in e and f"panel {stat['id']} " in e for e in errors), errors
    assert any("sideways" in e and f"panel {timeseries['id']} " in e for e in errors), errors
