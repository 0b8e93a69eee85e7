"""OData $filter, the part Central supports (lib/data/odata-filter.js), parsed into a small tree. Pure.

Grammar: comparisons `field op literal` with eq ne lt le gt ge, joined by and / or, negated by not, grouped by
parentheses; the functions year() month() day() hour() minute() second() on a field, and now(). Literals: null,
true, false, numbers, 'text' (a quote doubled inside), and bare dates or times (2026-11-30, 2026-11-30T10:00Z).
The tree: ("and"|"or", a, b), ("not", a), ("cmp", op, left, right); operands ("field", name), ("lit", value),
("fn", name, operand), ("now",). The store turns it into SQL (central_filter_sql).
"""

from __future__ import annotations

import re

from .. import errors

FIELDS = frozenset({"__system/submissionDate", "__system/submitterId", "__system/reviewState",
                    "__system/deletedAt"})
FUNCTIONS = frozenset({"year", "month", "day", "hour", "minute", "second"})
_COMPARISONS = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})
_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<punct>[(),])
  | (?P<name>[$A-Za-z_][A-Za-z0-9_/$]*)
)""", re.VERBOSE)
MAX_LENGTH = 2000
MAX_DEPTH = 32


def unparseable(reason: str) -> errors.Problem:
    return errors.Problem("400.18", f"The OData filter expression you provided could not be parsed: {reason}",
                          {"reason": reason})


def unsupported(text: str) -> errors.Problem:
    return errors.Problem("501.5", f"The given OData filter expression references fields not supported by this "
                          f"server: {text}", {"text": text})


def tokens(text: str) -> list[tuple[str, str]]:
    out, at = [], 0
    text = text.rstrip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise unparseable(f"unexpected text at position {at}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        at = match.end()
    return out


class _Parser:
    def __init__(self, items: list[tuple[str, str]]):
        self.items, self.at, self.depth = items, 0, 0

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.at] if self.at < len(self.items) else None

    def take(self) -> tuple[str, str]:
        item = self.peek()
        if item is None:
            raise unparseable("the expression ends too early")
        self.at += 1
        return item

    def expect(self, value: str) -> None:
        if self.take()[1] != value:
            raise unparseable(f"expected {value!r}")

    def word(self, value: str) -> bool:
        item = self.peek()
        if item is not None and item[0] == "name" and item[1] == value:
            self.at += 1
            return True
        return False

    def disjunction(self) -> tuple:
        node = self.conjunction()
        while self.word("or"):
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> tuple:
        node = self.negation()
        while self.word("and"):
            node = ("and", node, self.negation())
        return node

    def negation(self) -> tuple:
        if self.word("not"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise unparseable(f"nested deeper than {MAX_DEPTH} levels")
            node = ("not", self.negation())
            self.depth -= 1
            return node
        item = self.peek()
        if item == ("punct", "("):
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise unparseable(f"nested deeper than {MAX_DEPTH} levels")
            node = self.disjunction()
            self.expect(")")
            self.depth -= 1
            return node
        left = self.operand()
        op = self.take()
        if op[0] != "name" or op[1] not in _COMPARISONS:
            raise unparseable(f"expected a comparison (eq, ne, lt, le, gt, ge), found {op[1]!r}")
        return ("cmp", op[1], left, self.operand())

    def operand(self) -> tuple:
        kind, value = self.take()
        if kind == "string":
            return ("lit", value[1:-1].replace("''", "'"))
        if kind == "datetime":
            return ("lit", value)
        if kind == "number":
            return ("lit", float(value) if "." in value else int(value))
        if kind == "name":
            if value in ("null", "true", "false"):
                return ("lit", {"null": None, "true": True, "false": False}[value])
            if self.peek() == ("punct", "("):
                return self.call(value)
            field = value.removeprefix("$root/Submissions/")
            if field not in FIELDS:
                raise unsupported(value)
            return ("field", field)
        raise unparseable(f"unexpected {value!r}")

    def call(self, name: str) -> tuple:
        self.expect("(")
        if name == "now":
            self.expect(")")
            return ("now",)
        if name not in FUNCTIONS:
            raise unsupported(f"{name}()")
        inner = self.operand()
        self.expect(")")
        return ("fn", name, inner)


def parse(text: str) -> tuple:
    """The tree of a $filter; 400.18 when it cannot be read, 501.5 for a field or function not supported."""
    if len(text) > MAX_LENGTH:
        raise unparseable(f"longer than {MAX_LENGTH} characters")
    parser = _Parser(tokens(text))
    node = parser.disjunction()
    if parser.peek() is not None:
        raise unparseable(f"unexpected {parser.peek()[1]!r}")
    return node
