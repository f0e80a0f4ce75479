"""Local execution of an NGSI-LD entity query, with a pass-through fast path.

The store's index answers type (a union of types), id and id-prefix filters and a geo bounding
box (of ``location`` only: the one GeoProperty the store indexes); everything else (q, exact
geometry, id patterns, type intersections, ``attrs`` matching) is checked on the decoded
entity. ``idPattern`` is a regular expression *searched* in the id, as JavaScript's
``RegExp.test`` and the other NGSI-LD brokers do: anchor it (``^urn:...``) to match a prefix.
When nothing needs checking, stored bytes are returned as they are, so a type page never
decodes a single entity, and the scan asks the store for just one page (and one row more, to
know whether a next page exists) instead of a whole chunk.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from ..errors import BadRequest
from ..service.patterns import compile_pattern
from ..store.base import BBox, EntityFilter, Store, StoredEntity
from .q import TypeExpr, geo_matches

SCAN_CHUNK = 500
# The GeoProperty the store's bounding-box index holds (``entity_write`` indexes it).
INDEXED_GEOPROPERTY = "location"


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

    @functools.cached_property
    def attr_set(self) -> frozenset[str]:
        # Checked against every candidate: cost by the entity's size, not the list's.
        return frozenset(self.attrs)

    def matches(self, entity: Mapping[str, Any]) -> bool:
        if self.types is not None and not self.types.plain_union():
            t = entity.get("type")
            names = tuple(t) if isinstance(t, list) else (str(t),)
            if not self.types.matches(names):
                return False
        if self.attrs and self.attr_set.isdisjoint(entity):
            return False
        if self.geo is not None and not geo_matches(entity, self.geo, self.geoproperty):
            return False
        return self.q is None or self.q.matches(entity)


class DocArrays(Protocol):
    """An optional fast path a store may offer (SQLite does), beside ``DocPages``: one page
    as the JSON array of its stored documents, built by the database, and whether another
    match follows. The API's type pages use it for JSON responses in stored names."""

    async def scan_doc_array(self, flt: EntityFilter, limit: int, offset: int = 0
                             ) -> tuple[bytes, bool]:
        ...


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
    array: bytes | None = None  # the raw page as one JSON array, when asked for that
    more: bool = False  # another match follows this page (for a rel="next" link)

    def entities(self) -> list[dict[str, Any]]:
        """The page's entities, decoded (stored names)."""
        if self.docs is not None:
            return [orjson.loads(d) for d in self.docs]
        return [h.decoded() for h in self.hits]

    def stored_docs(self) -> list[bytes]:
        """The page's stored bytes."""
        return self.docs if self.docs is not None else [h.stored.doc for h in self.hits]


async def local_page(store: Store, query: NgsiQuery, *, docs_only: bool = False,
                     as_array: bool = False) -> Page:
    """One page of local matches in id order, and the total when ``query.count``.

    With ``docs_only`` (the caller needs the stored bytes, not the row's timestamps) and
    nothing to check beyond the index, a store offering ``DocPages.scan_docs`` answers in one
    query with no row objects; ``page.docs`` then holds the bytes and ``page.hits`` stays
    empty. One match beyond the page is looked for, to tell whether there is a next page.
    With ``as_array`` too, a store offering ``DocArrays.scan_doc_array`` gives the page as one
    JSON array in ``page.array`` (neither ``docs`` nor ``hits`` then).
    """
    pattern = compile_id_pattern(query.id_pattern)
    flt = EntityFilter(types=query.types.leaves() if query.types else (), ids=query.ids,
                       id_prefix=anchored_prefix(pattern), bbox=index_bbox(query))
    page = Page()
    want = query.offset + query.limit
    exact = query.exact or pattern is not None
    scan_docs = getattr(store, "scan_docs", None)
    scan_doc_array = getattr(store, "scan_doc_array", None) if as_array else None
    if docs_only and not exact and scan_doc_array is not None:
        page.array, page.more = await scan_doc_array(flt, query.limit, query.offset) \
            if query.limit else (b"[]", False)
    elif docs_only and not exact and scan_docs is not None:
        docs = await scan_docs(flt, query.limit + 1, query.offset) if query.limit else []
        page.more = len(docs) > query.limit
        page.docs = docs[:query.limit] if page.more else docs
    elif want:
        chunk = SCAN_CHUNK if exact else min(SCAN_CHUNK, want + 1)
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
                if len(page.hits) == query.limit:
                    page.more = True
                    break
                page.hits.append(hit)
    if query.count:
        page.count = await count(store, query, flt, pattern, exact)
    return page


def compile_id_pattern(pattern: Any) -> Any:
    """The caller's idPattern compiled by RE2 (linear time: a pattern such as ``(.|.)*Z``
    searched in every id of a scan would otherwise stall the event loop), or None."""
    if not pattern:
        return None
    if not isinstance(pattern, str):
        raise BadRequest("idPattern must be a string")
    return compile_pattern(pattern, "idPattern")


def anchored_prefix(pattern: Any) -> str:
    """The literal prefix of a ``^``-anchored pattern, so that the index narrows the scan
    (an unanchored pattern may match anywhere in the id: no prefix)."""
    if pattern is None or not pattern.pattern.startswith("^"):
        return ""
    prefix: list[str] = []
    source = pattern.pattern[1:]
    for ch in source:
        if ch in ".^$*+?{}[]\\|()":
            break
        prefix.append(ch)
    # A quantifier or an alternative applies to what precedes it: no safe prefix then.
    rest = source[len(prefix):]
    if rest[:1] in ("*", "?", "{") and prefix:
        prefix.pop()
    if rest[:1] == "|" or "|" in rest:
        return ""
    return "".join(prefix)


def index_bbox(query: NgsiQuery) -> BBox | None:
    """The bounding box the store's geo index can narrow a scan with, if any."""
    if query.geo is None or query.geoproperty != INDEXED_GEOPROPERTY:
        return None
    bbox: BBox | None = query.geo.bbox()
    return bbox


def _exact(hit: Hit, query: NgsiQuery, pattern: Any) -> bool:
    if pattern is not None and not pattern.search(hit.stored.id):
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
