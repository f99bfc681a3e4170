"""The Redis store: errors become StateError with the password masked; Lua scripts by SHA survive restarts."""

from __future__ import annotations

import pytest

from graphwiz_monitoring.errors import StateError
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.state.dead_letters import add_dead_letter, dead_letter_count, list_dead_letters
from graphwiz_monitoring.state.store import SCRIPTS_DIR
from tests.conftest import free_port


def test_unreachable_redis_raises_state_error_without_password():
    store = Store(f"redis://:topsecret@127.0.0.1:{free_port()}/0", socket_timeout=0.5)
    with pytest.raises(StateError) as err:
        store.ping()
    assert "topsecret" not in str(err.value)
    assert "127.0.0.1" in str(err.value)
    assert store.is_available() is False


def test_pipeline_errors_are_state_errors(store):
    pipe = store.r.pipeline()
    pipe.set("k", "v")
    pipe.incr("k")  # not an integer -> error on execute
    with pytest.raises(StateError):
        pipe.execute()


def test_script_loaded_once_and_reloaded_after_flush(store, tmp_path, monkeypatch):
    script = SCRIPTS_DIR / "_test_echo.lua"
    script.write_text("return {KEYS[1], ARGV[1]}")
    try:
        assert store.run_script("_test_echo", ["k1"], ["a"]) == ["k1", "a"]
        store.r.script_flush()  # what a Redis restart does to the script cache
        assert store.run_script("_test_echo", ["k2"], ["b"]) == ["k2", "b"]
    finally:
        script.unlink()
    with pytest.raises(StateError, match="no Lua script"):
        store.run_script("does_not_exist", [], [])


def test_keyspace_namespace():
    assert KeySpace("prod").trades == "prod:trades"
    assert KeySpace().exchange_latency("binance") == "graphwiz:exchange:binance:latency"


def test_dead_letters_bounded(store, keys):
    for i in range(5):
        add_dead_letter(store, keys, "trade", {"i": i}, f"bad {i}", max_entries=3)
    assert dead_letter_count(store, keys) == 3
    newest = list_dead_letters(store, keys, limit=1)[0]
    assert newest["reason"] == "bad 4" and newest["payload"] == {"i": 4}
