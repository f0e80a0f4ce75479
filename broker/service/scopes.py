"""``scopeQ`` (ETSI GS CIM 009 4.19): which entities a scope query selects by their ``scope``.

A scope is a path (``/Madrid/Gardens/ParqueNorte``); an entity has one or several. A scope
query is a path, where ``+`` stands for exactly one level and a final ``#`` for any number of
levels below (``/CompanyA/#``: ``/CompanyA`` and everything under it; ``/#``: any scope at
all), combined with ``;`` (and), ``,`` or ``|`` (or) and parentheses, ``;`` binding tighter.
An entity matches a path when one of its scopes does; an entity without a scope matches
nothing. One implementation for every path that filters (local pages, what peers sent, NGSI-LD
subscriptions).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import BadRequest
from .boolexpr import parse_boolean

MAX_SCOPE_QUERY = 2048
# A level: anything but the separators of the path and of the query language.
_LEVEL = re.compile(r"^[^/;,|()#+\s]+$")


@dataclass(frozen=True)
class ScopeQuery:
    """A parsed scope query: ``leaf`` (a path, as its levels), ``or``, ``and``."""

    op: str
    levels: tuple[str, ...] = ()
    items: tuple[ScopeQuery, ...] = ()

    def matches(self, entity: Mapping[str, Any]) -> bool:
        return self.matches_scopes(entity_scopes(entity))

    def matches_scopes(self, scopes: tuple[tuple[str, ...], ...]) -> bool:
        if self.op == "leaf":
            return any(_path_matches(self.levels, s) for s in scopes)
        if self.op == "or":
            return any(i.matches_scopes(scopes) for i in self.items)
        return all(i.matches_scopes(scopes) for i in self.items)


def entity_scopes(entity: Mapping[str, Any]) -> tuple[tuple[str, ...], ...]:
    """The entity's scopes, each as its levels (``/A/B``: ``("A", "B")``)."""
    raw = entity.get("scope")
    values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return tuple(tuple(p for p in v.split("/") if p) for v in values
                 if isinstance(v, str) and v.startswith("/"))


def _path_matches(pattern: tuple[str, ...], scope: tuple[str, ...]) -> bool:
    for i, level in enumerate(pattern):
        if level == "#":
            return True  # this level and everything below (zero levels included)
        if i >= len(scope) or level not in ("+", scope[i]):
            return False
    return len(scope) == len(pattern)


def parse_scope_query(text: str) -> ScopeQuery:
    """A scope query (``BadRequest`` when malformed, longer than ``MAX_SCOPE_QUERY`` or
    nested deeper than ``MAX_NESTING``)."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("scopeQ must be a non-empty string")
    if len(text) > MAX_SCOPE_QUERY:
        raise BadRequest(f"scopeQ longer than {MAX_SCOPE_QUERY} characters")
    return _parsed(text)


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> ScopeQuery:
    # Remembered: a subscription's scopeQ is matched against every change the node sees.
    return parse_boolean(text, lambda path: ScopeQuery("leaf", _levels(path)),
                         lambda op, items: ScopeQuery(op, items=items), "scopeQ")


def _levels(path: str) -> tuple[str, ...]:
    if not path.startswith("/"):
        raise BadRequest(f"a scope starts with '/', got {path[:64]!r}")
    levels = tuple(path[1:].split("/")) if path != "/" else ()
    for i, level in enumerate(levels):
        if level == "#" and i == len(levels) - 1 or level == "+":
            continue
        if not _LEVEL.match(level):
            raise BadRequest(f"invalid scope level {level[:64]!r} in {path[:64]!r} ('#' "
                             "only last, '+' alone)")
    if not levels:
        raise BadRequest("scopeQ: '/' alone is no scope (use '/#' for any scope)")
    return levels
