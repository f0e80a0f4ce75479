"""Entity projection: ``attrs`` (attributes), ``pick`` and ``omit`` (entity members).

ETSI GS CIM 009 v1.8.1 clause 4.21: ``pick`` keeps exactly the listed entity members (``id``
and ``type`` only when listed) and ``omit`` drops the listed ones; both take a projection
expression whose nested lists (``locatedAt{id,name}``) apply to the entities a relationship
links to when they are retrieved with ``join``. ``attrs`` keeps the listed attributes and the
entity's core members. A projection is parsed and validated once (a malformed expression is
BadRequestData) and applied to the normalized entity in stored names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import BadRequest

# A projection expression parsed: member name -> the projection of what it links to, or None.
Tree = Mapping[str, "Tree | None"]
MAX_EXPRESSION = 4096
MAX_DEPTH = 8
# Entity members that are not attributes (their names are never translated).
CORE_NAMES = frozenset({"id", "type", "scope", "createdAt", "modifiedAt", "deletedAt",
                        "@context"})
_NAME = re.compile(r"[^,{}]+")
_BAD_CHAR = re.compile(r"[<>\"'=;()\s&?]")


def parse_projection(text: str, parameter: str = "pick") -> Tree:
    """The tree of a projection expression (``a,b{c,d{e}}``); BadRequest naming the defect."""
    if len(text) > MAX_EXPRESSION:
        raise BadRequest(f"{parameter} is longer than {MAX_EXPRESSION} characters")
    tree, end = _members(text, 0, parameter, 0)
    if end != len(text):
        raise BadRequest(f"{parameter}: unexpected {text[end]!r} at position {end}")
    return tree


def _members(text: str, pos: int, parameter: str, depth: int) -> tuple[dict[str, Any], int]:
    if depth > MAX_DEPTH:
        raise BadRequest(f"{parameter} nests more than {MAX_DEPTH} levels")
    out: dict[str, Any] = {}
    while True:
        match = _NAME.match(text, pos)
        if match is None:
            where = f"at position {pos}" if pos < len(text) else "at the end"
            raise BadRequest(f"{parameter}: a member name is missing {where}")
        name = match.group()
        if _BAD_CHAR.search(name):
            raise BadRequest(f"{parameter}: invalid character in member name {name[:64]!r}")
        pos = match.end()
        children = None
        if pos < len(text) and text[pos] == "{":
            children, pos = _members(text, pos + 1, parameter, depth + 1)
            if pos >= len(text) or text[pos] != "}":
                raise BadRequest(f"{parameter}: the brace after {name[:64]!r} is not closed")
            pos += 1
        out[name] = children
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        return out, pos


def translate(tree: Tree, attr: Callable[[str], str]) -> Tree:
    """The tree in stored names (``attr`` maps an attribute name; core members stay)."""
    return {(name if name in CORE_NAMES else attr(name)):
            (translate(sub, attr) if sub is not None else None) for name, sub in tree.items()}


@dataclass(frozen=True)
class Projection:
    """What a read keeps of each entity (stored names). At most one of the three is set."""

    attrs: tuple[str, ...] = ()
    pick: Tree | None = None
    omit: Tree | None = None

    @property
    def empty(self) -> bool:
        return not self.attrs and self.pick is None and self.omit is None

    @property
    def wanted_attrs(self) -> tuple[str, ...]:
        """The attributes this projection can keep (empty: any), for asking peers."""
        if self.pick is not None:
            return tuple(k for k in self.pick if k not in CORE_NAMES)
        return self.attrs

    def apply(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        """The entity's members this projection keeps (``{}`` when nothing is left)."""
        if self.pick is not None:
            return {k: v for k, v in entity.items() if k in self.pick}
        if self.omit is not None:
            return {k: v for k, v in entity.items()
                    if k not in self.omit or self.omit[k] is not None}
        if self.attrs:
            keep = set(self.attrs)
            if not any(k in keep for k in entity):
                return {}  # 5.7.1.4: none of the attributes asked for
            return {k: v for k, v in entity.items() if k in keep or k in CORE_NAMES}
        return dict(entity)

    def linked(self, name: str) -> Projection:
        """The projection of the entities the relationship ``name`` links to (join)."""
        if self.pick is not None:
            sub = self.pick.get(name)
            return Projection(pick=sub) if sub is not None else Projection()
        if self.omit is not None:
            sub = self.omit.get(name)
            return Projection(omit=sub) if sub is not None else Projection()
        return Projection()


def projection_of(attrs: tuple[str, ...], pick: str | None, omit: str | None,
                  attr: Callable[[str], str]) -> Projection:
    """The projection of a request's ``attrs``, ``pick`` and ``omit`` (caller's names)."""
    given = [n for n, v in (("attrs", attrs), ("pick", pick), ("omit", omit)) if v]
    if len(given) > 1:
        raise BadRequest(f"{given[0]} and {given[1]} cannot be used together")
    if pick:
        return Projection(pick=translate(parse_projection(pick, "pick"), attr))
    if omit:
        return Projection(omit=translate(parse_projection(omit, "omit"), attr))
    return Projection(attrs=tuple(attr(a) for a in attrs))
