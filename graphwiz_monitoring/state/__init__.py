"""Shared state in Redis: key names (KeySpace), the store (only redis importer), Lua scripts."""

from graphwiz_monitoring.state.keys import KeySpace
from graphwiz_monitoring.state.store import Store, shared_store

__all__ = ["KeySpace", "Store", "shared_store"]
