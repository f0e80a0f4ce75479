"""Local execution of an NGSI-LD entity query, with a pass-through fast path.

The store's index answers type (a union of types), id and id-prefix filters and a geo bounding
box; everything else (q, exact geometry, id patterns, type intersections, ``attrs`` matching)
is checked on the decoded entity. When nothing needs checking, stored bytes are returned as
they are, so a type page never decodes a single entity, and the scan asks the store for just
``offset + limit`` rows instead of a whole chunk.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..store.base import EntityFilter, Store, StoredEntity
from .ngsi_q import TypeExpr, geo_matches
from .query import _compile_pattern, _literal_prefix

SCAN_CHUNK = 500


@dataclass(frozen=True)
class NgsiQuery:
    """A query on stored names (the caller's terms already translated)."""

    types: TypeExpr | None = None
    ids: tuple[str, ...] = ()
    id_pattern: str = ""
    q: Any = None
    geo: Any = None
    geoproperty: str = "location"
    attrs: tuple[str, ...] = ()  # entities must have at least one of these
    limit: int = 20
    offset: int = 0
    count: bool = False

    @property
    def exact(self) -> bool:
        """Whether entities must be decoded and checked beyond what the index answers."""
        return bool(self.q is not None or self.geo is not None or self.id_pattern or self.attrs
                    or (self.types is not None and not self.types.plain_union()))

    def matches(self, entity: Mapping[str, Any]) -> bool:
        if self.types is not None and not self.types.plain_union():
            t = entity.get("type")
            names = tuple(t) if isinstance(t, list) else (str(t),)
            if not self.types.matches(names):
                return False
        if self.attrs and not any(a in entity for a in self.attrs):
            return False
        if self.geo is not None and not geo_matches(entity, self.geo, self.geoproperty):
            return False
        return self.q is None or self.q.matches(entity)


@dataclass
class Hit:
    """One matching stored entity; ``entity`` is decoded only when it had to be."""

    stored: StoredEntity
    entity: dict[str, Any] | None = None

    def decoded(self) -> dict[str, Any]:
        if self.entity is None:
            self.entity = orjson.loads(self.stored.doc)
        return self.entity


@dataclass
class Page:
    hits: list[Hit] = field(default_factory=list)
    count: int | None = None
    docs: list[bytes] | None = None  # the raw page, when the caller asked for bytes only


async def local_page(store: Store, query: NgsiQuery, *, raw: bool = False) -> Page:
    """One page of local matches in id order, and the total when ``query.count``.

    With ``raw`` (the caller will send stored bytes as they are) and nothing to check beyond
    the index, a store offering ``DocPages.scan_docs`` answers in one query with no row
    objects; ``page.docs`` then holds the bytes and ``page.hits`` stays empty.
    """
    pattern = _compile_pattern(query.id_pattern)
    flt = EntityFilter(types=query.types.leaves() if query.types else (), ids=query.ids,
                       id_prefix=_literal_prefix(pattern),
                       bbox=query.geo.bbox() if query.geo is not None else None)
    page = Page()
    want = query.offset + query.limit
    exact = query.exact or pattern is not None
    scan_docs = getattr(store, "scan_docs", None)
    if raw and not exact and scan_docs is not None:
        page.docs = await scan_docs(flt, query.limit, query.offset) if query.limit else []
    elif want:
        chunk = SCAN_CHUNK if exact else min(SCAN_CHUNK, want)
        skipped = 0
        scan = store.scan_entities(flt, chunk)
        async with contextlib.aclosing(scan):  # type: ignore[type-var]
            async for stored in scan:
                hit = Hit(stored)
                if exact and not _exact(hit, query, pattern):
                    continue
                if skipped < query.offset:
                    skipped += 1
                    continue
                page.hits.append(hit)
                if len(page.hits) >= query.limit:
                    break
    if query.count:
        page.count = await count(store, query, flt, pattern, exact)
    return page


def _exact(hit: Hit, query: NgsiQuery, pattern: Any) -> bool:
    if pattern is not None and not pattern.fullmatch(hit.stored.id):
        return False
    return query.matches(hit.decoded())


async def count(store: Store, query: NgsiQuery, flt: EntityFilter, pattern: Any,
                exact: bool) -> int:
    if not exact and not flt.ids and not flt.id_prefix and flt.bbox is None:
        return await store.count_entities(flt.types)
    n = 0
    async for stored in store.scan_entities(flt, SCAN_CHUNK):
        if not exact or _exact(Hit(stored), query, pattern):
            n += 1
    return n
