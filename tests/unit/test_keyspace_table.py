"""state/keys.py's docstring table lists exactly the keys its methods build (placeholders compared by position)."""

from __future__ import annotations

import inspect
import re

from graphwiz_monitoring.state import keys as keys_module
from graphwiz_monitoring.state.keys import KeySpace

PLACEHOLDER = re.compile(r"\{[^}]+\}")


def _documented() -> set[str]:
    rows = re.findall(r"^\| ([^ |][^|]*?) *\|", keys_module.__doc__ or "", re.M)
    return {PLACEHOLDER.sub("{}", row) for row in rows if row != "key" and not row.startswith("-")}


def _built() -> set[str]:
    keys = KeySpace("{ns}")
    out = {KeySpace.UNACKED_OWNER}  # a constant: kombu's hash beside "unacked"
    for name, member in inspect.getmembers(KeySpace):
        if name.startswith("_") or name.isupper() or name == "namespace":
            continue
        if isinstance(member, property):
            out.add(getattr(keys, name))
        elif callable(member):
            params = [p for p in inspect.signature(getattr(keys, name)).parameters]
            out.add(getattr(keys, name)(*(f"{{{p}}}" for p in params)))
    return {PLACEHOLDER.sub("{}", key) for key in out}


def test_the_documented_key_table_matches_the_methods() -> None:
    documented, built = _documented(), _built()
    assert len(built) > 50
    assert built - documented == set(), "keys built but not in KeySpace's table"
    assert documented - built == set(), "keys in KeySpace's table that no method builds"
