"""Local execution of an NGSI-LD entity query, with a pass-through fast path.

What a query selects and how it matches is ``broker.service.query`` (the one query stack the
provider and its index use too); this module pages through it. The store's index answers
type (a union of types), id and id-prefix filters and a geo bounding box; everything else is
checked on the decoded entity. When nothing needs checking, stored bytes are returned as they
are, so a type page never decodes a single entity, and the scan asks the store for just one
page (and one row more, to know whether a next page exists) instead of a whole chunk.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from ..errors import BadRequest
from ..service.query import SCAN_CHUNK, Hit, Selection, scan
from ..store.base import EntityFilter, Store
from .order import MAX_ORDERED, OrderKey, sort_rows


@dataclass(frozen=True)
class NgsiQuery(Selection):
    """A query on stored names (the caller's terms already translated), one page of it."""

    limit: int = 20
    offset: int = 0
    count: bool = False
    order_by: tuple[OrderKey, ...] = ()


class DocArrays(Protocol):
    """An optional fast path a store may offer (SQLite does), beside ``DocPages``: one page
    as the JSON array of its stored documents, built by the database, and whether another
    match follows. The API's type pages use it for JSON responses in stored names."""

    async def scan_doc_array(self, flt: EntityFilter, limit: int, offset: int = 0
                             ) -> tuple[bytes, bool]:
        ...


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
    flt = query.index_filter()
    page = Page()
    if flt is None:
        page.count = 0 if query.count else None
        return page
    if query.order_by:
        return await _ordered_page(store, query)
    want = query.offset + query.limit
    exact = query.exact
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
        skipped = 0
        chunk = SCAN_CHUNK if exact else min(SCAN_CHUNK, want + 1)
        async with contextlib.aclosing(scan(store, query, chunk=chunk)) as hits:
            async for hit in hits:
                if skipped < query.offset:
                    skipped += 1
                    continue
                if len(page.hits) == query.limit:
                    page.more = True
                    break
                page.hits.append(hit)
    if query.count:
        page.count = await count(store, query, flt)
    return page


async def _ordered_page(store: Store, query: NgsiQuery) -> Page:
    """orderBy: every match read (at most MAX_ORDERED), sorted, then paged."""
    hits = []
    async with contextlib.aclosing(scan(store, query)) as rows:
        async for hit in rows:
            hits.append(hit)
            if len(hits) > MAX_ORDERED:
                raise BadRequest(f"orderBy sorts at most {MAX_ORDERED} matching entities: "
                                 "narrow the query")
    ordered = sort_rows(hits, query.order_by, Hit.decoded,
                        lambda h: (h.stored.created_at, h.stored.modified_at))
    page = Page(hits=ordered[query.offset:query.offset + query.limit])
    page.more = len(ordered) > query.offset + query.limit
    page.count = len(ordered) if query.count else None
    return page


async def count(store: Store, query: NgsiQuery, flt: EntityFilter) -> int:
    """How many entities match ``query`` (paging aside); ``flt`` is its index filter."""
    if not query.exact and not flt.ids and not flt.id_prefix and flt.bbox is None:
        return await store.count_entities(flt.types)
    n = 0
    async for _ in scan(store, query):
        n += 1
    return n
