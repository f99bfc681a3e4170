"""Fixtures for the metrics integration tests (real Redis from tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from graphwiz_monitoring.config import parse_settings


@pytest.fixture
def make_settings(redis_url: str):
    """Settings against the test Redis with overrides: ``make_settings(monitoring={...}, retention={...})``."""

    def make(**sections: dict[str, Any]):
        return parse_settings({"redis": {"url": redis_url}, **sections}, env={})

    return make
