"""A small, safe expression language over the metrics snapshot (YAML rules; never ``eval``).

Grammar (a hand-written recursive-descent parser, so only what is listed here can ever run)::

    expr     := or
    or       := and ("or" and)*              and := not ("and" not)*
    not      := "not" not | compare          compare := arith (("=="|"!="|"<"|"<="|">"|">=") arith)*
    arith    := term (("+"|"-") term)*       term := unary (("*"|"/"|"//"|"%") unary)*
    unary    := "-" unary | "+" unary | atom
    atom     := NUMBER | STRING | True | False | None | "(" expr ")" | FUNC "(" expr ("," expr)* ")" | path
    path     := NAME ("." (NAME | "*") | "[" STRING "]")*
    FUNC     := any | all | count | sum | max | min | abs

Paths are looked up in nested dicts only (no attribute access exists); a missing key gives ``None``.
Names starting with ``_`` (``__class__`` and friends) and unknown functions are a ``RuleError`` at load.
``*`` is a wildcard over a dict's keys: ``any(exchanges.*.p99_latency > 5)`` is true when some exchange
matches, and reports each matching exchange as a binding (``{"exchange": "binance"}``) so a rule can
fire one alert per exchange. Wildcards with the same prefix are the same variable, so
``any(exchanges.*.connected and exchanges.*.error_rate > 0.1)`` means "the same exchange". A wildcard
outside any aggregate behaves like ``any`` over the whole expression.

Missing data never fires: logic is three-valued (Kleene), ``None`` compares to nothing (except the
literal ``None``: ``x == None`` asks "is it missing"), arithmetic on ``None`` or a type mismatch or a
division by zero gives ``None``, ``all()`` over nothing is ``None``. A rule fires only on ``True``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphwiz_monitoring.errors import RuleError
from graphwiz_monitoring.rulebook.expression_parser import (
    FUNCTIONS,
    MAX_BINDINGS,
    MAX_EXPRESSION_CHARS,
    Node,
    Parser,
    Var,
)

__all__ = ["FUNCTIONS", "EvalResult", "Expression", "Match", "compile_expression"]


@dataclass(frozen=True)
class Match:
    """One way the condition was true: wildcard labels and the observed value."""

    labels: tuple[tuple[str, str], ...] = ()
    value: Any = None

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


# ---------------------------------------------------------------- evaluation

_ARITH = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "//": lambda a, b: a // b, "%": lambda a, b: a % b,
}
_COMPARE = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}
# Only these may flow out of arithmetic: a mistyped operand gives None, never an exception.
_ARITH_ERRORS = (TypeError, ValueError, ZeroDivisionError, OverflowError)
_SCALARS = (bool, int, float, str)


def _truth(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _kleene_and(values: Iterator[bool | None]) -> bool | None:
    result: bool | None = True
    for v in values:
        if v is False:
            return False
        if v is None:
            result = None
    return result


def _lookup(snapshot: Any, segments: tuple[Any, ...], env: Mapping[Var, str]) -> Any:
    current = snapshot
    for seg in segments:
        if not isinstance(current, Mapping):
            return None
        current = current.get(env[seg] if isinstance(seg, Var) else seg)
        if current is None:
            return None
    return current


def _bindings(snapshot: Any, variables: frozenset[Var], env: dict[Var, str]) -> Iterator[dict[Var, str]]:
    """Every assignment of ``variables`` (outer ones first: a prefix may contain another variable)."""
    ordered = sorted(variables, key=lambda v: (len(v.prefix), v.ident))

    def walk(i: int, current: dict[Var, str]) -> Iterator[dict[Var, str]]:
        if i == len(ordered):
            yield current
            return
        container = _lookup(snapshot, ordered[i].prefix, current)
        if isinstance(container, Mapping):
            for key in sorted(k for k in container if isinstance(k, str)):
                yield from walk(i + 1, {**current, ordered[i]: key})

    return itertools.islice(walk(0, dict(env)), MAX_BINDINGS)


def _eval(node: Node, snap: Any, env: dict[Var, str]) -> Any:
    kind = node.kind
    if kind == "literal":
        return node.value
    if kind == "path":
        value = _lookup(snap, node.segments, env)
        return value if value is None or isinstance(value, _SCALARS) else None
    if kind in ("neg", "pos"):
        value = _eval(node.children[0], snap, env)
        if isinstance(value, (int, float)):
            return -value if kind == "neg" else +value
        return None
    if kind == "arith":
        left, right = (_eval(c, snap, env) for c in node.children)
        if left is None or right is None or isinstance(left, str) != isinstance(right, str):
            return None
        if isinstance(left, str) and node.value != "+":
            return None
        try:
            return _ARITH[node.value](left, right)
        except _ARITH_ERRORS:
            return None
    if kind == "call":
        return _call(node, snap, env)
    return _test(node, snap, env)[0]


def _compare(node: Node, snap: Any, env: dict[Var, str]) -> bool | None:
    values = [_eval(c, snap, env) for c in node.children]

    def pairs() -> Iterator[bool | None]:
        for i, op in enumerate(node.value):
            j = i + 1
            a, b = values[i], values[j]
            if node.children[i].literal_none or node.children[j].literal_none:
                yield (a is None and b is None) == (op == "==") if op in ("==", "!=") else None
            elif a is None or b is None:
                yield None
            else:
                try:
                    yield bool(_COMPARE[op](a, b))
                except _ARITH_ERRORS:
                    yield None

    return _kleene_and(pairs())


def _call(node: Node, snap: Any, env: dict[Var, str]) -> Any:
    name = node.value
    if name in ("any", "all"):
        return _test(node, snap, env)[0]
    if name == "abs":
        value = _eval(node.children[0], snap, env)
        return abs(value) if isinstance(value, (int, float)) else None
    inner = node.children
    if name == "count":
        return float(sum(1 for b in _bindings(snap, inner[0].free, env) if _truth(_eval(inner[0], snap, b)) is True))
    numbers = [v for arg in inner for b in _bindings(snap, arg.free, env)
               if isinstance(v := _eval(arg, snap, b), (int, float))]
    if not numbers:
        return None
    return float(sum(numbers)) if name == "sum" else (max(numbers) if name == "max" else min(numbers))


def _observed(node: Node, snap: Any, env: dict[Var, str]) -> Any:
    """The value a true condition was about: the left side of its first comparison."""
    if node.kind == "compare":
        return _eval(node.children[0], snap, env)
    if node.kind in ("and", "or"):
        true = [c for c in node.children if _truth(_eval(c, snap, env)) is True]
        best = next((c for c in true if c.kind == "compare"), true[0] if true else None)
        return None if best is None else _observed(best, snap, env)
    if node.kind in ("not", "call") and node.value in (None, "any", "all", "count"):
        return None
    return _eval(node, snap, env)


def _test(node: Node, snap: Any, env: dict[Var, str]) -> tuple[bool | None, list[Match]]:
    """Truth value of a condition node plus the matches (wildcard bindings) that made it true."""
    kind = node.kind
    if kind in ("and", "or"):
        results = [_test(c, snap, env) for c in node.children]
        if kind == "and":
            value = _kleene_and(iter(r[0] for r in results))
        else:
            truths = [r[0] for r in results]
            value = True if True in truths else (None if None in truths else False)
        matches = [m for r in results if r[0] is True for m in r[1]] if value is True else []
        return value, list(dict.fromkeys(matches))
    if kind == "not":
        inner = _test(node.children[0], snap, env)[0]
        return (None if inner is None else not inner), []
    if kind == "compare":
        return _compare(node, snap, env), []
    if kind == "call" and node.value in ("any", "all"):
        return _quantify(node.value, node.children[0], snap, env)
    return _truth(_eval(node, snap, env)), []


def _quantify(name: str, inner: Node, snap: Any, env: dict[Var, str]) -> tuple[bool | None, list[Match]]:
    new_vars = frozenset(v for v in inner.free if v not in env)
    seen_true = seen_none = seen_false = False
    matches: list[Match] = []
    for binding in _bindings(snap, new_vars, env):
        value, sub = _test(inner, snap, binding)
        if value is True:
            seen_true = True
            labels = tuple((v.label, binding[v]) for v in sorted(new_vars, key=lambda v: (len(v.prefix), v.ident)))
            if sub:
                matches.extend(Match(labels + m.labels, m.value) for m in sub)
            else:
                matches.append(Match(labels, _observed(inner, snap, binding)))
        elif value is None:
            seen_none = True
        else:
            seen_false = True
    if name == "any":
        return (True, matches) if seen_true else ((None if seen_none else False), [])
    if seen_false:
        return False, []
    return (None, []) if seen_none or not seen_true else (True, [])


@dataclass(frozen=True)
class EvalResult:
    value: bool | None
    matches: tuple[Match, ...] = ()

    @property
    def fired(self) -> bool:
        return self.value is True


@dataclass(frozen=True)
class Expression:
    """A compiled, validated condition; ``evaluate`` never raises on any snapshot."""

    text: str
    root: Node
    labels: tuple[str, ...]  # wildcard labels a match can carry (e.g. "exchange")
    sections: frozenset[str]  # top-level snapshot sections read (e.g. "trading")

    def evaluate(self, snapshot: Mapping[str, Any]) -> EvalResult:
        root = self.root
        if root.free:  # a bare wildcard means "for some binding"
            value, matches = _quantify("any", root, snapshot, {})
        else:
            value, matches = _test(root, snapshot, {})
        if value is not True:
            return EvalResult(value)
        return EvalResult(True, tuple(matches) or (Match((), _observed(root, snapshot, {})),))

    def observe(self, snapshot: Mapping[str, Any], labels: Mapping[str, str]) -> Any:
        """The value the condition is about now (the left side of its first comparison) for one alert's
        labels, breached or not: what the status page shows as "now" beside the value at the breach.
        None when the labels do not bind every wildcard or the value is missing."""
        node = self.root
        while node.kind == "call" and node.value in ("any", "all") and node.children:
            node = node.children[0]
        compare = _first_compare(node)
        if compare is None:
            return None
        env: dict[Var, str] = {}
        for var in compare.children[0].free:
            if var.label not in labels:
                return None
            env[var] = str(labels[var.label])
        try:
            value = _eval(compare.children[0], snapshot, env)
        except KeyError:  # a wildcard bound only by another part of the condition
            return None
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _first_compare(node: Node) -> Node | None:
    if node.kind == "compare":
        return node
    if node.kind in ("and", "or", "not"):
        for child in node.children:
            found = _first_compare(child)
            if found is not None:
                return found
    return None


def compile_expression(text: str) -> Expression:
    """Parse and validate ``text``; raises RuleError (only) for anything not in the grammar."""
    if not isinstance(text, str):
        raise RuleError(f"a condition must be a string, got {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise RuleError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    if not text.strip():
        raise RuleError("empty expression")
    parser = Parser(text)
    root = parser.parse()
    sections: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.kind == "path" and isinstance(node.segments[0], str):
            sections.add(node.segments[0])
        stack.extend(node.children)
    bound = _match_vars(root, set(root.free))
    labels = tuple(v.label for v in sorted(bound, key=lambda v: (len(v.prefix), v.ident)))
    return Expression(text, root, labels, frozenset(sections))


def _match_vars(node: Node, found: set[Var]) -> set[Var]:
    """Wildcards whose keys reach a match's labels: those bound by any() (or bare) through and/or."""
    if node.kind in ("and", "or"):
        for child in node.children:
            _match_vars(child, found)
    elif node.kind == "call" and node.value == "any":
        found.update(node.children[0].free)
        _match_vars(node.children[0], found)
    return found
