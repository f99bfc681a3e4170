"""Hypothesis strategies for the bad-input fuzz (scenario 6), shared by tests/chaos and bench/fuzz.py.

Three targets: configuration data/files (``config_data``, ``config_mutation``, ``config_file_bytes``),
WebSocket client messages (``ws_message``) and raw task arguments (``task_args``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml
from hypothesis import strategies as st
from pydantic import BaseModel

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.events import EVENT_TYPES

# ------------------------------------------------------------------ configuration


def _field_names(model: type[BaseModel], out: set[str]) -> set[str]:
    for name, info in model.model_fields.items():
        out.add(info.alias or name)
        annotation = info.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel) and candidate is not model:
                _field_names(candidate, out)
    return out


# Every key the schema knows (sections, fields, check names): random keys alone rarely reach deep.
KNOWN_KEYS = sorted(_field_names(Settings, set()) | {
    "exchange_connectivity", "api_rate_limits", "disk_space", "portfolio_health", "high_cpu", "large_loss",
    "threshold", "healthy_above", "max_drawdown", "condition", "title", "message"})

# Values that mean something to some validator: env references, addresses, rule syntax, enum names.
INTERESTING = ["${HOME}", "${GRAPHWIZ_UNSET_VARIABLE}", "${X:-5}", "${", "127.0.0.1", "0.0.0.0", "::",
               "redis://user:pw-SECRETVALUE@127.0.0.1:1/0", "1 > 0", "trading.pnl_usd < -100", "{value}",
               "{x.__class__}", "{}", "{value:>99999999}", "__import__('os')", "warning", "CRITICAL", "discord",
               "log", "reconnect", "pause_trading", "2030-01-01T00:00:00Z", "not a date", "-1", "0", "1e309",
               "nan", "65536", "", " ", "\x00", "\u202e", "😀" * 3]

SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(INTERESTING),
)
KEYS = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=12))


def values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any YAML-like value: scalars, lists and mappings with mostly schema keys."""
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
        max_leaves=max_leaves,
    )


def config_data() -> st.SearchStrategy[Any]:
    """A random configuration document (usually a mapping of sections, sometimes anything at all)."""
    sections = st.dictionaries(st.sampled_from(sorted(Settings.model_fields)) | st.text(max_size=8),
                               values(), max_size=5)
    return st.one_of(sections, values(6))


def _leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif path:
        yield path


BASE_CONFIG: dict[str, Any] = Settings().model_dump(mode="json", by_alias=True)
BASE_CONFIG["notifications"]["discord"]["webhook_url"] = "https://discord.example/api/webhooks/1/SECRETDISCORDTOKEN"
BASE_CONFIG["notifications"]["telegram"].update(bot_token="123:SECRETTELEGRAMTOKEN", chat_id="42")
BASE_CONFIG["alerts"]["custom_rules"] = {"pnl_drop": {"condition": "trading.pnl_usd < -100", "title": "P&L {value}",
                                                      "message": "P&L at {pnl_usd}", "channels": ["log"]}}
BASE_PATHS: list[tuple[str, ...]] = sorted(_leaves(BASE_CONFIG))


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


@st.composite
def config_mutation(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A valid full configuration with one leaf replaced, deleted or given an unknown sibling."""
    doc = json.loads(json.dumps(BASE_CONFIG))
    path = draw(st.sampled_from(BASE_PATHS))
    how = draw(st.sampled_from(["replace", "replace", "replace", "unknown_key"]))
    if how == "replace":
        _set(doc, path, draw(values(6)))
        return doc, path
    key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in KNOWN_KEYS))
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[key] = draw(SCALARS)
    return doc, (*path[:-1], key)


@st.composite
def config_file_bytes(draw: st.DrawFn) -> bytes:
    """What a monitoring.yaml may contain: YAML of random data, damaged YAML, other encodings, deep nesting."""
    kind = draw(st.sampled_from(["yaml", "yaml", "damaged", "binary", "deep", "tags"]))
    if kind == "yaml":
        return yaml.safe_dump(draw(config_data()), allow_unicode=True).encode()
    if kind == "damaged":
        text = yaml.safe_dump(draw(config_data()), allow_unicode=True)
        at = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from([":", "- ", "  ", "\t", "[", "{", "&a ", "*a", "!!", "'", '"', "\n  x", "%"]))
        return (text[:at] + junk + text[at:]).encode()
    if kind == "binary":
        return draw(st.binary(max_size=200)) + draw(st.sampled_from([b"", b"\xff\xfe", b"\xc3\x28", b"\x00"]))
    if kind == "deep":
        depth = draw(st.integers(50, 1200))  # PyYAML gives up (RecursionError) at a few hundred
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b"{a: ", b"}"), (b"- ", b"")]))
        if opener == b"- ":
            return b"".join(b"  " * i + b"-\n" for i in range(min(depth, 400)))
        return b"monitoring: " + opener * depth + closer * depth
    tag = draw(st.sampled_from(["!!python/object/apply:os.system ['true']", "!!python/name:os.system",
                                "!!binary aGVsbG8=", "!!set {a, b}", "!!timestamp 2001-12-14", "!custom x"]))
    return f"monitoring:\n  prometheus_port: {tag}\n".encode()


# ------------------------------------------------------------------ WebSocket messages

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=20))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=15)
SUBSCRIBE_ITEMS = st.one_of(st.sampled_from(sorted(EVENT_TYPES)), st.text(max_size=30), JSON_SCALARS)
# Text the client library can encode (no lone surrogates).
SAFE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)


@st.composite
def ws_message(draw: st.DrawFn) -> tuple[str, Any]:
    """``(kind, payload)``: kind "text" (str), "binary" (bytes) or "bad_utf8" (bytes sent as a text frame)."""
    kind = draw(st.sampled_from(["text", "json", "subscribe", "binary", "deep", "bad_utf8"]))
    if kind == "text":
        return "text", draw(SAFE_TEXT)
    if kind == "json":
        return "text", json.dumps(draw(JSON_VALUES))
    if kind == "subscribe":
        wanted = draw(st.one_of(st.lists(SUBSCRIBE_ITEMS, max_size=6), JSON_VALUES, st.just("*")))
        extra = draw(st.dictionaries(st.text(max_size=5), JSON_SCALARS, max_size=2))
        return "text", json.dumps({"subscribe": wanted, **extra})
    if kind == "binary":
        return "binary", draw(st.binary(max_size=300))
    if kind == "deep":
        depth = draw(st.integers(100, 20_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"subscribe":', "}"), ('{"a":', "}")]))
        return "text", opener * depth + ("1" if opener != "[" else "") + closer * depth
    valid = draw(SAFE_TEXT).encode()
    bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"]))
    at = draw(st.integers(0, len(valid)))
    return "bad_utf8", valid[:at] + bad + valid[at:]


# ------------------------------------------------------------------ raw task arguments

ARG_VALUES = st.one_of(
    JSON_VALUES,
    st.sampled_from(["api_rate_limits", "log", "firing", "resolved", "", "x" * 10_000]),
    st.builds(lambda depth: json.loads("[" * depth + "]" * depth), st.integers(1, 40)),
)
TASK_NAMES = ("workers.ingest.ingest_batch", "workers.ingest.record_trade", "workers.ingest.record_trades",
              "workers.notify.deliver", "workers.health.run_check")


@st.composite
def task_call(draw: st.DrawFn) -> tuple[str, list[Any], dict[str, Any]]:
    """A task name with random positional and keyword arguments (any arity, any JSON types)."""
    name = draw(st.sampled_from(TASK_NAMES))
    args = draw(st.lists(ARG_VALUES, max_size=4))
    kwargs = draw(st.dictionaries(st.sampled_from(["batch", "trade", "trades", "alert_id", "channel", "kind",
                                                   "name", "x"]), ARG_VALUES, max_size=2))
    return name, args, kwargs


HEADER_NAMES = ("eta", "expires", "retries", "timelimit", "id", "root_id", "parent_id", "group", "shadow", "lang",
                "argsrepr", "kwargsrepr", "origin", "ignore_result", "stamps", "stamped_headers", "group_index")
PROPERTY_NAMES = ("delivery_tag", "delivery_info", "body_encoding", "correlation_id", "reply_to", "priority",
                  "delivery_mode")


@st.composite
def raw_queue_item(draw: st.DrawFn) -> tuple[str, str, Any]:
    """Something to LPUSH onto a task queue, as ``(kind, task or queue, payload)``.

    kind "call": a well-formed message with random arguments; "body": a random body; "headers": random
    header values; "item": a list item that may not be a kombu envelope at all; "properties": an
    envelope with random properties.
    """
    kind = draw(st.sampled_from(["call", "call", "body", "headers", "item", "properties"]))
    task = draw(st.sampled_from(TASK_NAMES))
    if kind == "call":
        name, args, kwargs = draw(task_call())
        return kind, name, (args, kwargs)
    if kind == "body":
        body = draw(st.one_of(st.binary(max_size=200), JSON_VALUES.map(lambda v: json.dumps(v).encode()),
                              st.integers(1, 5000).map(lambda d: b"[" * d + b"]" * d)))
        return kind, task, body
    if kind == "headers":
        return kind, task, draw(st.dictionaries(st.sampled_from(HEADER_NAMES) | st.just("task"), JSON_VALUES,
                                                min_size=1, max_size=3))
    if kind == "properties":
        return kind, task, draw(st.dictionaries(st.sampled_from(PROPERTY_NAMES), JSON_VALUES, min_size=1, max_size=3))
    item = draw(st.one_of(st.binary(max_size=200), JSON_VALUES.map(lambda v: json.dumps(v).encode())))
    return kind, task, item
