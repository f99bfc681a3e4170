"""Shared state in Redis: key names (KeySpace), the store (only redis importer), Lua scripts."""

from graphwiz_monitoring.state.keys import KeySpace
from graphwiz_monitoring.state.store import Store, settings_store, shared_store

__all__ = ["KeySpace", "Store", "settings_store", "shared_store"]
