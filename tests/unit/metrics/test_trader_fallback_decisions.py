"""The fallback's decision (trader/fallback.py) on a fake clock, and its configuration's validation.

The end-to-end promise (a real trader, Redis and worker, a loopback webhook) is tests/e2e/test_trader_fallback.py.
"""

from __future__ import annotations

import pytest

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import ConfigError
from graphwiz_monitoring.trader.fallback import PipelineFallback

STALE = 10.0


class World:
    def __init__(self) -> None:
        self.now = 0.0
        self.waiting = True
        self.recorded = 0

    def progress(self) -> tuple[bool, int]:
        return self.waiting, self.recorded


def fallback(world: World) -> PipelineFallback:
    settings = parse_settings({"trader": {"pipeline_stale_seconds": STALE, "fallback_channels": ["webhook"]},
                               "notifications": {"webhook": {"url": "http://127.0.0.1:9/hook"}}}, env={})
    return PipelineFallback(settings, world.progress, identity="t1", clock=lambda: world.now)


def run(fb: PipelineFallback, world: World, until: float, step: float = 0.5) -> list[tuple[float, str]]:
    """Tick every ``step`` s up to ``until``; what was due when. A due notice counts as announced."""
    due: list[tuple[float, str]] = []
    while world.now < until:
        world.now += step
        what = fb.tick()
        if what == "down":
            fb._down = object()
        elif what == "back":
            fb._down = None
            fb._not_before = world.now + STALE
        if what:
            due.append((world.now, what))
    return due


def test_down_once_after_the_stale_period_and_back_once_on_progress() -> None:
    world = World()
    fb = fallback(world)
    due = run(fb, world, 60)
    assert [what for _, what in due] == ["down"] and STALE <= due[0][0] <= STALE + 1
    world.recorded += 1
    assert run(fb, world, 61) == [(60.5, "back")]
    world.recorded += 1
    world.waiting = False
    assert run(fb, world, 200) == []


def test_nothing_to_deliver_is_not_a_dead_pipeline() -> None:
    world = World()
    world.waiting = False
    assert run(fallback(world), world, 100) == []


def test_a_new_episode_is_announced_no_sooner_than_the_stale_period_after_back() -> None:
    world = World()
    fb = fallback(world)
    run(fb, world, 20)
    world.recorded += 1
    assert [w for _, w in run(fb, world, 20.5)] == ["back"]
    world.recorded += 0  # dead again at once: stale after 10 s, and the gap after "back" is 10 s too
    due = run(fb, world, 40)
    assert [w for _, w in due] == ["down"] and due[0][0] >= 20.5 + STALE


def test_progress_resets_the_stale_period() -> None:
    world = World()
    fb = fallback(world)
    for _ in range(10):  # a worker records a batch every 5 s: never down
        assert run(fb, world, world.now + 5) == []
        world.recorded += 1


def test_fallback_channels_must_be_configured_in_the_traders_own_config() -> None:
    with pytest.raises(ConfigError, match=r"trader\.fallback_channels names 'telegram'.*notifications\.telegram"):
        parse_settings({"trader": {"fallback_channels": ["telegram"]}}, env={})
    with pytest.raises(ConfigError, match=r"trader\.fallback_channels\.0.*'email'"):
        parse_settings({"trader": {"fallback_channels": ["email"]}}, env={})
    with pytest.raises(ConfigError, match=r"notifications\.slack\.enabled is false"):
        parse_settings({"trader": {"fallback_channels": ["slack"]},
                        "notifications": {"slack": {"webhook_url": "http://x/y", "enabled": False}}}, env={})
    with pytest.raises(ConfigError, match="pipeline_stale_seconds"):
        parse_settings({"trader": {"pipeline_stale_seconds": 0}}, env={})
