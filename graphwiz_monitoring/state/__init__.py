"""Shared state in Redis: key names (KeySpace), the store (only redis importer), Lua scripts."""

from .keys import KeySpace
from .store import Store, shared_store

__all__ = ["KeySpace", "Store", "shared_store"]
