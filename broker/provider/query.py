"""Local entity queries: index prefilter in the store, exact filters and projection above it.

Used by the federation provider (under a policy decision's area and field mask) and by the
NGSI-LD API for local data. Results stream in id order, so a page token is the last id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ..service.filters import Expr, Geo, entity_geometry
from ..service.patterns import compile_pattern
from ..store.base import BBox, EntityFilter, Store

# Attribute names that every projection keeps.
CORE_KEYS = frozenset({"id", "type", "@context", "scope", "createdAt", "modifiedAt"})


@dataclass(frozen=True)
class EntityQuery:
    """A local query: what to scan, how to filter, and how much to return."""

    types: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    id_pattern: str = ""
    q: Expr | None = None
    geo: Geo | None = None
    geoproperty: str = "location"
    attrs: tuple[str, ...] = ()
    after_id: str = ""
    limit: int = 100
    offset: int = 0


AreaTest = Callable[[Mapping[str, Any]], bool]


async def run_query(store: Store, query: EntityQuery, *, area_bbox: BBox | None = None,
                    area_test: AreaTest | None = None) -> AsyncIterator[dict[str, Any]]:
    """Matching entities as dicts (not yet projected), in id order, honouring offset/limit.

    ``area_bbox``/``area_test`` restrict results to an agreement's area: the bbox narrows the
    index scan, the test is the exact check on each entity.
    """
    pattern = _compile_pattern(query.id_pattern)
    bbox = _intersect(query.geo.bbox() if query.geo else None, area_bbox)
    if bbox == "empty":
        return
    flt = EntityFilter(types=query.types, ids=query.ids, id_prefix=_literal_prefix(pattern),
                       bbox=bbox if isinstance(bbox, tuple) else None, after_id=query.after_id)
    skipped = returned = 0
    async for stored in store.scan_entities(flt):
        if pattern is not None and not pattern.fullmatch(stored.id):
            continue
        entity = orjson.loads(stored.doc)
        if not matches(entity, query, area_test):
            continue
        if skipped < query.offset:
            skipped += 1
            continue
        if query.limit and returned >= query.limit:
            return
        returned += 1
        yield entity


async def count_matches(store: Store, query: EntityQuery, **kwargs: Any) -> int:
    """How many entities match, ignoring offset and limit."""
    unbounded = EntityQuery(types=query.types, ids=query.ids, id_pattern=query.id_pattern,
                            q=query.q, geo=query.geo, geoproperty=query.geoproperty,
                            after_id=query.after_id, limit=0, offset=0)
    n = 0
    async for _ in run_query(store, unbounded, **kwargs):
        n += 1
    return n


def matches(entity: Mapping[str, Any], query: EntityQuery,
            area_test: AreaTest | None = None) -> bool:
    """Exact (post-index) checks: area, geo relation and q."""
    if area_test is not None and not area_test(entity):
        return False
    if query.geo is not None:
        geometry = entity_geometry(entity, query.geoproperty)
        if geometry is None or not query.geo.matches_geometry(geometry):
            return False
    return query.q is None or query.q.matches(entity)


def project(entity: Mapping[str, Any], attrs: tuple[str, ...] | frozenset[str] | None
            ) -> dict[str, Any]:
    """Keep the core keys plus ``attrs`` (None keeps everything)."""
    if not attrs:
        return dict(entity)
    keep = set(attrs)
    return {k: v for k, v in entity.items() if k in CORE_KEYS or k in keep}


def _compile_pattern(pattern: str) -> Any:
    """The caller's idPattern in RE2 (linear time), or None."""
    return compile_pattern(pattern, "idPattern") if pattern else None


def _literal_prefix(pattern: Any) -> str:
    """A literal prefix of an anchored pattern, so the index narrows the scan."""
    if pattern is None:
        return ""
    if "|" in pattern.pattern:
        return ""  # an alternation anywhere may match ids with other beginnings
    prefix = []
    source = pattern.pattern.removeprefix("^")
    for ch in source:
        if ch in ".^$*+?{}[]\\|()":
            break
        prefix.append(ch)
    # A quantifier applies to the preceding character: drop it from the prefix.
    rest = source[len(prefix):]
    if rest[:1] in ("*", "?", "{") and prefix:
        prefix.pop()
    return "".join(prefix)


def _intersect(a: BBox | None, b: BBox | None) -> BBox | None | str:
    if a is None:
        return b
    if b is None:
        return a
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return "empty" if box[0] > box[2] or box[1] > box[3] else box
