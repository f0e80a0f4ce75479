"""The boolean grammar NGSI-LD shares between type expressions (4.17) and scope queries (4.19).

Terms joined by ``;`` (and, binding tighter) and ``,`` or ``|`` (or), grouped by parentheses.
One parser for both, with one nesting limit: a caller's expression is parsed by recursion,
once per level, so the cap keeps it far from Python's recursion limit (a 1,000-deep expression
fits in 2,048 characters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..errors import BadRequest

# How deeply a caller's expression (type, scopeQ, q) may nest parentheses.
MAX_NESTING = 32

T = TypeVar("T")


def parse_boolean(text: str, leaf: Callable[[str], T],
                  combine: Callable[[str, tuple[T, ...]], T], what: str) -> T:
    """``text`` as a tree: ``leaf(term)`` for each term (stripped; it raises ``BadRequest``
    for a malformed one), ``combine("or" | "and", items)`` for each operator with two or
    more operands. ``what`` names the parameter in errors (``BadRequest``)."""
    pos = 0
    depth = 0

    def union() -> T:
        nonlocal pos
        items = [conj()]
        while pos < len(text) and text[pos] in ",|":
            pos += 1
            items.append(conj())
        return items[0] if len(items) == 1 else combine("or", tuple(items))

    def conj() -> T:
        nonlocal pos
        items = [atom()]
        while pos < len(text) and text[pos] == ";":
            pos += 1
            items.append(atom())
        return items[0] if len(items) == 1 else combine("and", tuple(items))

    def atom() -> T:
        nonlocal pos, depth
        if pos < len(text) and text[pos] == "(":
            depth += 1
            if depth > MAX_NESTING:
                raise BadRequest(f"{what} nests deeper than {MAX_NESTING} levels")
            pos += 1
            inner = union()
            if pos >= len(text) or text[pos] != ")":
                raise BadRequest(f"{what}: missing ')'")
            pos += 1
            depth -= 1
            return inner
        start = pos
        while pos < len(text) and text[pos] not in ",|;()":
            pos += 1
        return leaf(text[start:pos].strip())

    tree = union()
    if pos != len(text):
        raise BadRequest(f"{what}: unexpected {text[pos:pos + 16]!r}")
    return tree
