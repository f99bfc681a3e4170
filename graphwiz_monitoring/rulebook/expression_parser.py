"""Lexer and recursive-descent parser for the rule expression language (grammar: see expressions.py).

Builds a tree of ``Node``s; nothing here can run code: the parser only accepts the grammar's tokens
and the evaluator (expressions.py) only walks dicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from graphwiz_monitoring.errors import RuleError

MAX_EXPRESSION_CHARS = 4096
MAX_NESTING_DEPTH = 64
MAX_TREE_DEPTH = 128
# Upper bound on wildcard assignments tried per aggregate, so a huge snapshot cannot stall a worker.
MAX_BINDINGS = 10_000
FUNCTIONS = frozenset({"any", "all", "count", "sum", "max", "min", "abs"})
# Label a wildcard after the dict it ranges over: exchanges.* -> exchange, system.hosts.*.disks.* -> mount.
LABEL_NAMES = {"exchanges": "exchange", "hosts": "host", "disks": "mount", "agents": "agent", "traders": "trader",
               "queues": "queue"}
KEYWORD_LITERALS: dict[str, Any] = {"True": True, "true": True, "False": False, "false": False,
                                    "None": None, "none": None, "null": None}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|//|[<>+\-*/%().,\[\]])
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


@dataclass(frozen=True)
class Var:
    """A wildcard variable, identified by the path before its ``*``."""

    ident: str
    prefix: tuple[Any, ...]  # str segments or Var
    label: str


@dataclass
class Node:
    kind: str  # literal | path | neg | pos | arith | compare | and | or | not | call
    value: Any = None  # literal value, operator(s), or function name
    children: list[Node] = field(default_factory=list)
    segments: tuple[Any, ...] = ()  # path: str | Var
    free: frozenset[Var] = frozenset()
    literal_none: bool = False
    depth: int = 1


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise RuleError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = m.lastgroup or "op"
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unquote(text: str) -> str:
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.vars: dict[str, Var] = {}

    # -- token helpers
    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def at(self, *texts: str) -> bool:
        tok = self.peek()
        return tok.kind in ("op", "name") and tok.text in texts

    def take(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, text: str) -> Token:
        if not self.at(text):
            tok = self.peek()
            raise RuleError(f"expected {text!r} at position {tok.pos}, found {tok.text or 'end of expression'!r}")
        return self.take()

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            raise RuleError(f"expression nested deeper than {MAX_NESTING_DEPTH} levels")

    # -- grammar
    def parse(self) -> Node:
        node = self.expr()
        if self.peek().kind != "end":
            tok = self.peek()
            raise RuleError(f"unexpected {tok.text!r} at position {tok.pos}")
        return node

    def expr(self) -> Node:
        self.nest()
        try:
            return self.boolean("or", self.boolean_and)
        finally:
            self.depth -= 1

    def boolean(self, word: str, operand: Any) -> Node:
        items = [operand()]
        while self.at(word):
            self.take()
            items.append(operand())
        return items[0] if len(items) == 1 else _node(word, children=items)

    def boolean_and(self) -> Node:
        return self.boolean("and", self.negation)

    def negation(self) -> Node:
        if self.at("not"):
            self.take()
            self.nest()
            try:
                return _node("not", children=[self.negation()])
            finally:
                self.depth -= 1
        return self.compare()

    def compare(self) -> Node:
        operands, ops = [self.arith()], []
        while self.at("==", "!=", "<", "<=", ">", ">="):
            ops.append(self.take().text)
            operands.append(self.arith())
        return operands[0] if not ops else _node("compare", value=tuple(ops), children=operands)

    def arith(self) -> Node:
        node = self.term()
        while self.at("+", "-"):
            op = self.take().text
            node = _node("arith", value=op, children=[node, self.term()])
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.at("*", "/", "//", "%"):
            op = self.take().text
            node = _node("arith", value=op, children=[node, self.unary()])
        return node

    def unary(self) -> Node:
        if self.at("-", "+"):
            op = self.take().text
            self.nest()
            try:
                return _node("neg" if op == "-" else "pos", children=[self.unary()])
            finally:
                self.depth -= 1
        return self.atom()

    def atom(self) -> Node:
        tok = self.peek()
        if tok.kind == "number":
            self.take()
            try:
                return Node("literal", value=float(tok.text))
            except ValueError:
                raise RuleError(f"bad number {tok.text!r} at position {tok.pos}") from None
        if tok.kind == "string":
            self.take()
            return Node("literal", value=_unquote(tok.text))
        if self.at("("):
            self.take()
            node = self.expr()
            self.expect(")")
            return node
        if tok.kind == "name":
            if tok.text in KEYWORD_LITERALS:
                self.take()
                value = KEYWORD_LITERALS[tok.text]
                return Node("literal", value=value, literal_none=value is None)
            if tok.text in ("and", "or", "not"):
                raise RuleError(f"unexpected {tok.text!r} at position {tok.pos}")
            if self.peek(1).kind == "op" and self.peek(1).text == "(":
                return self.call()
            return self.path()
        raise RuleError(f"unexpected {tok.text or 'end of expression'!r} at position {tok.pos}")

    def call(self) -> Node:
        tok = self.take()
        if tok.text not in FUNCTIONS:
            raise RuleError(f"unknown function {tok.text!r} at position {tok.pos}; allowed: {sorted(FUNCTIONS)}")
        self.expect("(")
        args = [self.expr()]
        while self.at(","):
            self.take()
            args.append(self.expr())
        self.expect(")")
        if tok.text in ("any", "all", "count", "abs") and len(args) != 1:
            raise RuleError(f"{tok.text}() takes exactly one argument (position {tok.pos})")
        # Aggregates bind the wildcards inside them; abs() passes them through.
        free = frozenset().union(*(a.free for a in args)) if tok.text == "abs" else frozenset()
        node = _node("call", value=tok.text, children=args)
        node.free = free
        return node

    def path(self) -> Node:
        segments: list[Any] = [self._name(self.take())]
        while True:
            if self.at("."):
                self.take()
                if self.at("*"):
                    self.take()
                    segments.append(self._var(tuple(segments)))
                elif self.peek().kind == "name":
                    segments.append(self._name(self.take()))
                else:
                    tok = self.peek()
                    raise RuleError(f"expected a name or * after '.' at position {tok.pos}")
            elif self.at("["):
                self.take()
                tok = self.take()
                if tok.kind != "string":
                    raise RuleError(f"expected a quoted key inside [] at position {tok.pos}")
                key = _unquote(tok.text)
                if key.startswith("_"):
                    raise RuleError(f"names starting with '_' are not allowed: {key!r}")
                segments.append(key)
                self.expect("]")
            else:
                break
        free = frozenset(s for s in segments if isinstance(s, Var))
        return Node("path", segments=tuple(segments), free=free)

    def _name(self, tok: Token) -> str:
        if tok.kind != "name":
            raise RuleError(f"expected a name at position {tok.pos}, found {tok.text!r}")
        if tok.text.startswith("_"):
            raise RuleError(f"names starting with '_' are not allowed: {tok.text!r} at position {tok.pos}")
        if tok.text in FUNCTIONS or tok.text in KEYWORD_LITERALS or tok.text in ("and", "or", "not"):
            raise RuleError(f"{tok.text!r} cannot be used as a path segment (position {tok.pos})")
        return tok.text

    def _var(self, prefix: tuple[Any, ...]) -> Var:
        ident = ".".join("*" if isinstance(s, Var) else s for s in prefix)
        if ident not in self.vars:
            base = next((s for s in reversed(prefix) if isinstance(s, str)), "key")
            label = LABEL_NAMES.get(base, base[:-1] if base.endswith("s") and len(base) > 1 else base)
            taken = {v.label for v in self.vars.values()}
            unique, n = label, 2
            while unique in taken:
                unique, n = f"{label}{n}", n + 1
            self.vars[ident] = Var(ident, prefix, unique)
        return self.vars[ident]


def _node(kind: str, value: Any = None, children: list[Node] | None = None) -> Node:
    children = children or []
    free = frozenset().union(*(c.free for c in children)) if children else frozenset()
    depth = 1 + max((c.depth for c in children), default=0)
    if depth > MAX_TREE_DEPTH:  # long operator chains nest without parentheses
        raise RuleError(f"expression too deeply nested (more than {MAX_TREE_DEPTH} levels of operators)")
    return Node(kind, value=value, children=children, free=free, depth=depth)
