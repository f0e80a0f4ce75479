"""One query stack: what an entity query selects and how stored entities are matched against it.

The NGSI-LD API (local pages, the consumer's check of what peers sent), the provider (store
scans under an agreement's area) and the provider's entity index all use these, so that an
``idPattern``, a type expression, a ``q`` or a geo-query means the same on every path:

- ``idPattern`` is a regular expression *searched* in the id (as JavaScript's ``RegExp.test``
  and the other NGSI-LD brokers do), compiled by RE2; anchor it (``^urn:...``) to match a
  prefix, which is also the only case where the store's id index may narrow the scan;
- a type expression is NGSI-LD v1.8 4.17 (``A,B``/``A|B`` any, ``A;B`` all, parentheses);
  the store's index answers a plain union exactly, anything else is checked on the entity;
- ``q`` and geo are the filter trees of ``broker.service.filters``; geo narrows the scan by
  its bounding box only on ``location``, the one GeoProperty the store indexes;
- projection keeps the core members (id, type, scope, system attributes) and the picked ones.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import BadRequest
from ..store.base import BBox, EntityFilter, Store, StoredEntity
from .boolexpr import parse_boolean
from .filters import geo_matches
from .patterns import compile_pattern
from .scopes import ScopeQuery

SCAN_CHUNK = 500
# The GeoProperty the store's bounding-box index holds (``entity_write`` indexes it).
INDEXED_GEOPROPERTY = "location"
MAX_TYPE_EXPRESSION = 2048
# Members a projection always keeps.
CORE_MEMBERS = frozenset({"id", "type", "scope", "createdAt", "modifiedAt"})

Rename = Callable[[str], str]
AreaTest = Callable[[Mapping[str, Any]], bool]


def _same(name: str) -> str:
    return name


# -- type expressions -------------------------------------------------------------------------

@dataclass(frozen=True)
class TypeExpr:
    """``A,B`` or ``A|B`` (any), ``A;B`` (all), with parentheses: NGSI-LD v1.8 4.17."""

    op: str  # "leaf" | "or" | "and"
    name: str = ""
    items: tuple[TypeExpr, ...] = ()

    def leaves(self) -> tuple[str, ...]:
        if self.op == "leaf":
            return (self.name,)
        return tuple(dict.fromkeys(n for i in self.items for n in i.leaves()))

    def plain_union(self) -> bool:
        """True if the expression is only a union of types (what an index answers exactly)."""
        return self.op == "leaf" or self.op == "or" and all(i.plain_union() for i in self.items)

    def matches(self, types: tuple[str, ...]) -> bool:
        if self.op == "leaf":
            return self.name in types
        if self.op == "or":
            return any(i.matches(types) for i in self.items)
        return all(i.matches(types) for i in self.items)


def any_of(names: Iterable[str]) -> TypeExpr | None:
    """The union of ``names`` (None, any type, when there are none)."""
    leaves = tuple(TypeExpr("leaf", n) for n in dict.fromkeys(names))
    if not leaves:
        return None
    return leaves[0] if len(leaves) == 1 else TypeExpr("or", items=leaves)


def parse_types(text: str, rename: Rename = _same) -> TypeExpr:
    """A type expression (``BadRequest`` when malformed, longer than
    ``MAX_TYPE_EXPRESSION`` characters or nested deeper than ``boolexpr.MAX_NESTING``);
    ``rename`` maps each name."""
    def leaf(name: str) -> TypeExpr:
        if not name:
            raise BadRequest("type: expected a type name")
        return TypeExpr("leaf", rename(name))

    if len(text) > MAX_TYPE_EXPRESSION:
        raise BadRequest("type expression too long")
    return parse_boolean(text, leaf, lambda op, items: TypeExpr(op, items=items),
                         "type expression")


# -- id patterns ------------------------------------------------------------------------------

class IdPattern:
    """A caller's ``idPattern``: an RE2 expression searched in the id (linear time, so that a
    pattern such as ``(.|.)*Z`` searched in every id of a scan cannot stall the event loop)."""

    __slots__ = ("source", "_compiled", "prefix")

    def __init__(self, source: str, what: str = "idPattern") -> None:
        self.source = source
        self._compiled = compile_pattern(source, what)
        self.prefix = anchored_prefix(source)

    def matches(self, entity_id: str) -> bool:
        return self._compiled.search(entity_id) is not None


def id_pattern(source: Any, what: str = "idPattern") -> IdPattern | None:
    """The compiled pattern, None for an empty one; ``BadRequest`` when it is not a string or
    not valid RE2."""
    if not source:
        return None
    if not isinstance(source, str):
        raise BadRequest(f"{what} must be a string")
    return _compiled(source, what)


@functools.lru_cache(maxsize=1024)
def _compiled(source: str, what: str) -> IdPattern:
    # Remembered: a subscription's pattern is tested on every change the node sees.
    return IdPattern(source, what)


def anchored_prefix(source: str) -> str:
    """The literal prefix every id a ``^``-anchored pattern matches starts with, so that the
    index narrows the scan; "" when there is none (an unanchored pattern matches anywhere)."""
    if not source.startswith("^"):
        return ""
    rest = source[1:]
    if "|" in rest:
        return ""  # an alternative anywhere may match ids with other beginnings
    prefix: list[str] = []
    for ch in rest:
        if ch in ".^$*+?{}[]\\|()":
            break
        prefix.append(ch)
    # A quantifier applies to the character before it: that one is not certain.
    if rest[len(prefix):][:1] in ("*", "?", "{") and prefix:
        prefix.pop()
    return "".join(prefix)


# -- the selection ----------------------------------------------------------------------------

def intersect(a: BBox | None, b: BBox | None) -> BBox | None | bool:
    """The overlap of two boxes (None: no box at all), or False when they do not meet."""
    if a is None:
        return b
    if b is None:
        return a
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return False if box[0] > box[2] or box[1] > box[3] else box


@dataclass(frozen=True)
class Selection:
    """Which entities a query selects (stored names: the caller's terms already translated)."""

    types: TypeExpr | None = None
    ids: tuple[str, ...] = ()
    id_pattern: str = ""
    q: Any = None
    geo: Any = None
    geoproperty: str = INDEXED_GEOPROPERTY
    attrs: tuple[str, ...] = ()  # entities must have at least one of these
    scope_q: ScopeQuery | None = None

    @functools.cached_property
    def pattern(self) -> IdPattern | None:
        return id_pattern(self.id_pattern)

    @property
    def type_names(self) -> tuple[str, ...]:
        """Every type name the expression mentions (what the index is asked for)."""
        return self.types.leaves() if self.types is not None else ()

    @property
    def decodes(self) -> bool:
        """Whether entities must be decoded and checked beyond their id and the index."""
        return bool(self.q is not None or self.geo is not None or self.attrs
                    or self.scope_q is not None
                    or (self.types is not None and not self.types.plain_union()))

    @property
    def exact(self) -> bool:
        """Whether anything is checked beyond what the store's index answers."""
        return self.decodes or self.pattern is not None

    @functools.cached_property
    def attr_set(self) -> frozenset[str]:
        # Checked against every candidate: cost by the entity's size, not the list's.
        return frozenset(self.attrs)

    def geo_bbox(self) -> BBox | None:
        """The box the store's geo index can narrow a scan with, if any."""
        if self.geo is None or self.geoproperty != INDEXED_GEOPROPERTY:
            return None
        bbox: BBox | None = self.geo.bbox()
        return bbox

    def index_filter(self, *, after_id: str = "", area_bbox: BBox | None = None
                     ) -> EntityFilter | None:
        """What the store's index can answer; None when nothing can match (the query's box
        and the area's do not meet)."""
        bbox = intersect(self.geo_bbox(), area_bbox)
        if bbox is False:
            return None
        pattern = self.pattern
        return EntityFilter(types=self.type_names, ids=self.ids,
                            id_prefix=pattern.prefix if pattern is not None else "",
                            bbox=bbox if isinstance(bbox, tuple) else None, after_id=after_id)

    def accepts_id(self, entity_id: str) -> bool:
        pattern = self.pattern
        return pattern is None or pattern.matches(entity_id)

    def accepts_content(self, entity: Mapping[str, Any]) -> bool:
        """The checks on the decoded entity (its id aside): types, attrs, scopeQ, geo, q."""
        if self.types is not None and not self.types.plain_union():
            t = entity.get("type")
            names = tuple(t) if isinstance(t, list) else (str(t),)
            if not self.types.matches(names):
                return False
        if self.attrs and self.attr_set.isdisjoint(entity):
            return False
        if self.scope_q is not None and not self.scope_q.matches(entity):
            return False
        if self.geo is not None and not geo_matches(entity, self.geo, self.geoproperty):
            return False
        return self.q is None or bool(self.q.matches(entity))

    def matches(self, entity: Mapping[str, Any]) -> bool:
        """Every check but the index's own (ids, a union of types), e.g. on what a peer sent."""
        return self.accepts_id(str(entity.get("id", ""))) and self.accepts_content(entity)


@dataclass
class Hit:
    """One matching stored entity; ``entity`` is decoded only when it had to be."""

    stored: StoredEntity
    entity: dict[str, Any] | None = None

    def decoded(self) -> dict[str, Any]:
        if self.entity is None:
            self.entity = orjson.loads(self.stored.doc)
        return self.entity


async def scan(store: Store, selection: Selection, *, after_id: str = "",
               area_bbox: BBox | None = None, area_test: AreaTest | None = None,
               chunk: int = SCAN_CHUNK) -> AsyncGenerator[Hit, None]:
    """The stored entities ``selection`` selects, in id order: the index narrows the scan,
    the rest is checked here. ``area_bbox``/``area_test`` restrict them to an agreement's
    area (the box narrows the scan, the test is exact on each entity)."""
    flt = selection.index_filter(after_id=after_id, area_bbox=area_bbox)
    if flt is None:
        return
    pattern = selection.pattern
    decodes = selection.decodes or area_test is not None
    rows = store.scan_entities(flt, chunk)
    async with contextlib.aclosing(rows):  # type: ignore[type-var]
        async for stored in rows:
            if pattern is not None and not pattern.matches(stored.id):
                continue
            hit = Hit(stored)
            if decodes:
                entity = hit.decoded()
                if area_test is not None and not area_test(entity):
                    continue
                if not selection.accepts_content(entity):
                    continue
            yield hit


# -- projection -------------------------------------------------------------------------------

def project(entity: Mapping[str, Any], pick: Iterable[str] | None = None,
            omit: Iterable[str] | None = None) -> dict[str, Any]:
    """``pick`` keeps the core members and the listed attributes; ``omit`` drops the listed
    members."""
    out = dict(entity)
    if pick:
        keep = set(pick) | CORE_MEMBERS
        out = {k: v for k, v in out.items() if k in keep}
    if omit:
        for name in omit:
            out.pop(name, None)
    return out
