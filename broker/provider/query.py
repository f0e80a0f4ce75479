"""The provider's local queries: a page of the shared query stack after a page token.

What a query selects and how entities match it is ``broker.service.query`` (the same as for
the NGSI-LD API); here it runs under a policy decision's area. Results stream in id order, so
a page token is the last id.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from ..service.query import AreaTest, Selection, scan
from ..store.base import BBox, Store


@dataclass(frozen=True)
class EntityQuery(Selection):
    """A provider query: a selection, where to resume, and how much to return."""

    after_id: str = ""
    limit: int = 100
    offset: int = 0


async def run_query(store: Store, query: EntityQuery, *, area_bbox: BBox | None = None,
                    area_test: AreaTest | None = None) -> AsyncIterator[dict[str, Any]]:
    """Matching entities as dicts (not yet masked), in id order, honouring offset/limit.

    ``area_bbox``/``area_test`` restrict results to an agreement's area: the bbox narrows the
    index scan, the test is the exact check on each entity.
    """
    skipped = returned = 0
    hits = scan(store, query, after_id=query.after_id, area_bbox=area_bbox, area_test=area_test)
    async with contextlib.aclosing(hits):
        async for hit in hits:
            if skipped < query.offset:
                skipped += 1
                continue
            if query.limit and returned >= query.limit:
                return
            returned += 1
            yield hit.decoded()


async def count_matches(store: Store, query: EntityQuery, **kwargs: Any) -> int:
    """How many entities match, ignoring offset and limit."""
    n = 0
    async for _ in run_query(store, replace(query, limit=0, offset=0), **kwargs):
        n += 1
    return n
