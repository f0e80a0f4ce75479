"""The provider's hot path: this node's entities held pre-serialized, masked without parsing.

Streaming a query used to parse every stored entity, apply the field mask, test the area and
serialize it again: 40-100k entities/s. Here every entity is parsed once, when the index first
sees it, into

- its attribute fragments, kept as compact JSON bytes (``"name":{...}``) in document order, so
  a field mask is a join of the allowed fragments, and the join is remembered per mask;
- where it is, by the same rules as ``trust.enforce.entity_in_area`` (a point is tested with
  the area's raster grid: a table lookup, exact shapely only for boundary cells), and the
  bounding box the store's geo index would use.

The index follows the store's change feed (``changes_after``), so it is exactly as fresh as a
scan: before each query it applies the changes after the cursor it has seen (an entry is
replaced when its content hash changes, removed when the entity is deleted). It never decides
anything: the provider still asks the policy engine and charges the rate limits; the output is
byte for byte what the parse-mask-serialize path produces (a test compares both on the same
data). A node with more than ``max_entities`` entities does not use it (memory stays bounded);
the provider then falls back to scanning the store.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from trust.enforce import FieldMask, entity_in_area, entity_position
from trust.geo import Area

from ..service.filters import entity_geometry, geometry_bbox
from ..service.query import TypeExpr, intersect
from ..store.base import BBox, EntityFilter, Store
from .query import EntityQuery

log = logging.getLogger("renkei.provider.index")
MAX_ENTITIES = 200_000
CHANGES_CHUNK = 5000
MASKS_PER_ENTRY = 4
MAX_AREAS = 64  # areas whose per-entity verdicts are remembered (one per active agreement)
MAX_VIEWS = 8  # whole results of plain queries kept (each ~70 bytes per entity)
_UNLOCATED = None
_KEYS: dict[str, bytes] = {}  # attribute name -> b'"name":' (names repeat across entities)


def _key_bytes(key: str) -> bytes:
    prefix = _KEYS.get(key)
    if prefix is None:
        prefix = orjson.dumps(key) + b":"
        if len(_KEYS) < 10_000:
            _KEYS[key] = prefix
    return prefix


class _Entry:
    """One entity, parsed once: fragments, where it is, and its masked forms."""

    __slots__ = ("hash", "types", "doc_type", "items", "keys", "where", "bbox", "masked")

    def __init__(self, doc: bytes, content_hash: str, stored_type: str) -> None:
        entity = orjson.loads(doc)
        self.hash = content_hash
        self.doc_type = entity.get("type")
        # Every type the entity is indexed under (a multi-typed entity: each of its types).
        self.types: tuple[str, ...] = (
            tuple(dict.fromkeys(t for t in self.doc_type if isinstance(t, str)))
            if isinstance(self.doc_type, list) and self.doc_type else (stored_type,))
        dumps = orjson.dumps
        # ``id`` first, as FieldMask.apply orders a masked copy (the same bytes either way).
        self.items = tuple(sorted(((key, _key_bytes(key) + dumps(value))
                                  for key, value in entity.items()),
                                 key=lambda item: item[0] != "id"))
        self.keys = frozenset(entity)
        self.where, self.bbox = _locate(entity)
        self.masked: dict[frozenset[str], bytes] = {}

    def entity(self) -> dict[str, Any]:
        """The entity as a dict (parsed again: only for the rare paths that need it)."""
        parsed: dict[str, Any] = orjson.loads(self.join(None))
        return parsed

    def join(self, allowed: frozenset[str] | None) -> bytes:
        """Compact JSON of the allowed attributes (all if None), ``id`` first."""
        return b"{" + b",".join(f for k, f in self.items
                                if allowed is None or k in allowed) + b"}"

    def in_area(self, area: Area) -> bool:
        where = self.where
        if where is _UNLOCATED:
            return False
        if isinstance(where, tuple):
            return area.contains_point(where[0], where[1])
        return entity_in_area(self.entity(), area)  # a non-point geometry: rare, exact

    def masked_bytes(self, mask: FieldMask, allowed: frozenset[str] | None) -> bytes | None:
        """``orjson.dumps(mask.apply(entity))`` without parsing; None if the type is masked.
        ``allowed`` is ``mask.attributes_for(doc_type)``, looked up once per query."""
        out = self.masked.get(allowed) if allowed else None
        if out is not None:
            return out
        if not isinstance(self.doc_type, str):
            masked = mask.apply(self.entity())  # multi-typed entity: the general rule
            return None if masked is None else orjson.dumps(masked)
        if not allowed:
            return None
        if len(self.masked) >= MASKS_PER_ENTRY:
            self.masked.clear()
        out = self.masked[allowed] = self.join(None if self.keys <= allowed else allowed)
        return out


def _locate(entity: Mapping[str, Any]
            ) -> tuple[tuple[float, float] | Mapping[str, Any] | None, BBox | None]:
    """(where, bbox): the common case (a Point of two plain numbers) in one step, anything
    else through ``trust.enforce.entity_position`` (the area checks' own rule) and the
    store's ``geometry_bbox``."""
    location = entity.get("location")
    if location.__class__ is dict:
        value = location.get("value")
        if value.__class__ is dict and value.get("type") == "Point":
            c = value.get("coordinates")
            if (c.__class__ is list and len(c) >= 2 and c[0].__class__ in _PLAIN
                    and c[1].__class__ in _PLAIN):
                lon, lat = float(c[0]), float(c[1])
                return (lon, lat), (lon, lat, lon, lat)
    geometry = entity_geometry(entity)
    return entity_position(entity), geometry_bbox(geometry) if geometry is not None else None


_PLAIN = (int, float)


def _overlaps(a: BBox | None, b: BBox) -> bool:
    return a is not None and a[0] <= b[2] and a[2] >= b[0] and a[1] <= b[3] and a[3] >= b[1]


class EntityIndex:
    """All entities of one node, kept in step with the store's change feed."""

    def __init__(self, store: Store, max_entities: int = MAX_ENTITIES) -> None:
        self._store = store
        self._max = max_entities
        self._entries: dict[str, _Entry] = {}
        self._by_type: dict[str, set[str]] = {}
        self._sorted: dict[str, list[str]] = {}
        self._cursor = -1  # nothing loaded yet
        self._lock = asyncio.Lock()
        self.enabled = True
        # Per agreed area: ids found inside / outside it, forgotten when an entity changes.
        self._areas: list[tuple[Area, set[str], set[str]]] = []
        # Whole results of plain queries (types + mask + area), valid for one generation.
        self._generation = 0
        self._views: dict[Any, tuple[int, list[str], list[tuple[str, bytes | None]]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def loaded(self) -> bool:
        """True once the first query (or ``sync``) built it."""
        return self._cursor >= 0 and self.enabled

    async def sync(self) -> bool:
        """Catch up with the store; False if the index is not usable (too many entities)."""
        if not self.enabled:
            return False
        async with self._lock:
            if self._cursor < 0:
                await self._load()
            else:
                await self._follow()
            return self.enabled

    async def _load(self) -> None:
        cursor = await self._store.last_change_cursor()  # before the scan: replays are harmless
        if await self._store.count_entities() > self._max:
            log.warning("index disabled: more than %d entities; streaming from the store",
                        self._max)
            self.enabled = False
            return
        batch: list[Any] = []
        async for stored in self._store.scan_entities(EntityFilter(), chunk=2000):
            batch.append(stored)
            if len(batch) >= 2000:
                # Parsing every entity into fragments is the CPU-heavy part: in a thread (the
                # lock keeps readers out), so the event loop keeps serving other calls.
                await asyncio.to_thread(self._put_all, batch)
                batch = []
        await asyncio.to_thread(self._put_all, batch)
        self._cursor = cursor
        await self._follow()
        log.info("index loaded: %d entities", len(self._entries))

    def _put_all(self, stored: list[Any]) -> None:
        for entity in stored:
            self._put(entity.id, entity.doc, entity.content_hash, entity.type)

    async def read(self, query: EntityQuery, mask: FieldMask, area: Area | None, size: int
                   ) -> list[list[tuple[str, bytes | None]]]:
        """``chunks`` of one query, worked out in a thread under the index lock (call ``sync``
        first): a whole-result view of 200,000 entities, or an area's verdicts, is seconds of
        CPU that must not hold the event loop, which serves every other caller's calls and
        the health checks (issue 12). At most ``query.limit`` matches (a page) are held."""
        async with self._lock:
            return await asyncio.to_thread(lambda: list(self.chunks(query, mask, area, size)))

    async def _follow(self) -> None:
        while True:
            changes = await self._store.changes_after(self._cursor, (), CHANGES_CHUNK)
            for change in changes:
                if change.kind == "deleted":
                    self._drop(change.entity_id)
                elif change.doc is not None:
                    held = self._entries.get(change.entity_id)
                    if held is None or held.hash != change.content_hash:
                        self._put(change.entity_id, change.doc, change.content_hash,
                                  change.entity_type)
                self._cursor = change.cursor
            if len(changes) < CHANGES_CHUNK:
                break
        if len(self._entries) > self._max:
            log.warning("index disabled: more than %d entities; streaming from the store",
                        self._max)
            self.enabled = False
            self._entries, self._by_type, self._sorted, self._views = {}, {}, {}, {}

    def _put(self, entity_id: str, doc: bytes, content_hash: str, stored_type: str) -> None:
        try:
            entry = _Entry(doc, content_hash, stored_type)
        except orjson.JSONDecodeError:
            log.error("entity %s is not valid JSON in the store; not served", entity_id[:256])
            self._drop(entity_id)
            return
        old = self._entries.get(entity_id)
        self._entries[entity_id] = entry
        self._generation += 1
        self._forget_area_verdicts(entity_id)
        if old is not None and old.types == entry.types:
            return
        if old is not None:
            self._leave(old.types, entity_id)
        for entity_type in entry.types:
            self._by_type.setdefault(entity_type, set()).add(entity_id)
            self._sorted.pop(entity_type, None)

    def _drop(self, entity_id: str) -> None:
        old = self._entries.pop(entity_id, None)
        if old is not None:
            self._generation += 1
            self._leave(old.types, entity_id)
            self._forget_area_verdicts(entity_id)

    def _forget_area_verdicts(self, entity_id: str) -> None:
        for _, inside, outside in self._areas:
            inside.discard(entity_id)
            outside.discard(entity_id)

    def _area_slot(self, area: Area) -> int | None:
        """A small number for ``area`` (compared by document); None past ``MAX_AREAS``."""
        for slot, (known, _, _) in enumerate(self._areas):
            if known is area or known == area:
                return slot
        if len(self._areas) >= MAX_AREAS:
            return None
        self._areas.append((area, set(), set()))
        return len(self._areas) - 1

    def _verdicts(self, area: Area) -> tuple[set[str], set[str]] | None:
        """The remembered inside/outside sets of ``area``."""
        slot = self._area_slot(area)
        return None if slot is None else self._areas[slot][1:]

    def _leave(self, types: tuple[str, ...], entity_id: str) -> None:
        for entity_type in types:
            members = self._by_type.get(entity_type)
            if members is not None:
                members.discard(entity_id)
                self._sorted.pop(entity_type, None)

    def _ids(self, entity_type: str) -> list[str]:
        ids = self._sorted.get(entity_type)
        if ids is None:
            ids = self._sorted[entity_type] = sorted(self._by_type.get(entity_type, ()))
        return ids

    def chunks(self, query: EntityQuery, mask: FieldMask, area: Area | None, size: int
               ) -> Iterator[list[tuple[str, bytes | None]]]:
        """``select`` in lists of at most ``size``. A plain query (types and paging only, the
        bulk of federated traffic) is sliced from a view: its whole result, kept until any
        entity changes, so that page after page and caller after caller cost no per-entity
        work at all."""
        if not query.exact and not query.ids:
            view = self._view(query.types, mask, area)
            if view is not None:
                ids, items = view
                start = bisect.bisect_right(ids, query.after_id) if query.after_id else 0
                end = min(len(ids), start + query.limit) if query.limit else len(ids)
                for i in range(start, end, size):
                    yield items[i:min(i + size, end)]
                return
        matches_ = self.select(query, mask, area)
        while chunk := list(itertools.islice(matches_, size)):
            yield chunk

    def _view(self, types: TypeExpr | None, mask: FieldMask, area: Area | None
              ) -> tuple[list[str], list[tuple[str, bytes | None]]] | None:
        slot = -1 if area is None else self._area_slot(area)
        if slot is None:
            return None
        key = (types, tuple(sorted((t, mask.attributes_for(t)) for t in mask.types)), slot)
        held = self._views.get(key)
        if held is not None and held[0] == self._generation:
            return held[1], held[2]
        items = list(self.select(EntityQuery(types=types, limit=0), mask, area))
        if len(self._views) >= MAX_VIEWS:
            self._views.pop(next(iter(self._views)))  # the oldest
        self._views.pop(key, None)
        self._views[key] = (self._generation, [i for i, _ in items], items)
        return self._views[key][1], items

    def select(self, query: EntityQuery, mask: FieldMask, area: Area | None
               ) -> Iterator[tuple[str, bytes | None]]:
        """(id, masked bytes or None) of the matching entities in id order: the same sequence
        as ``run_query`` + ``FieldMask.apply`` + ``orjson.dumps`` over the store (call ``sync``
        first). ``limit`` counts matches before the mask, as ``run_query`` does."""
        pattern = query.pattern
        bbox = intersect(query.geo_bbox(), area.bounds if area is not None else None)
        if bbox is False:
            return
        # Without a geo filter the box is the area's bounds, which the exact area test implies.
        box = bbox if isinstance(bbox, tuple) and query.geo is not None else None
        decodes = query.decodes
        verdicts = self._verdicts(area) if area is not None else None
        inside, outside = verdicts if verdicts is not None else (set(), set())
        allowed_for: dict[Any, frozenset[str] | None] = {}
        entries, limit, returned = self._entries, query.limit, 0
        for entity_id in self._candidates(query, pattern.prefix if pattern is not None else ""):
            entry = entries.get(entity_id)
            if entry is None:
                continue
            if pattern is not None and not pattern.matches(entity_id):
                continue
            if box is not None and not _overlaps(entry.bbox, box):
                continue
            if area is not None and entity_id not in inside:
                if entity_id in outside:
                    continue
                if not entry.in_area(area):
                    if verdicts is not None:
                        outside.add(entity_id)
                    continue
                if verdicts is not None:
                    inside.add(entity_id)
            if decodes and not query.accepts_content(entry.entity()):
                continue
            if limit and returned >= limit:
                return
            returned += 1
            doc_type = entry.doc_type
            if doc_type.__class__ is str:
                allowed = allowed_for.get(doc_type)
                if allowed is None:
                    allowed = allowed_for[doc_type] = mask.attributes_for(doc_type)
            else:
                allowed = None
            yield entity_id, entry.masked_bytes(mask, allowed)

    def _candidates(self, query: EntityQuery, prefix: str) -> Iterator[str]:
        """Ids of the query's types in id order, under the store's own index conditions:
        ``id > after_id``, ``id IN ids``, ``prefix <= id < prefix + U+10FFFF``."""
        types = query.type_names or tuple(sorted(self._by_type))
        end = prefix + "\U0010ffff" if prefix else ""

        def window(ids: list[str]) -> list[str]:
            start = bisect.bisect_right(ids, query.after_id) if query.after_id else 0
            if prefix:
                start = max(start, bisect.bisect_left(ids, prefix))
                return ids[start:bisect.bisect_left(ids, end)]
            return ids[start:] if start else ids

        if query.ids:
            members = [self._by_type.get(t, set()) for t in types]
            yield from window(sorted(i for i in set(query.ids)
                                     if any(i in m for m in members)))
            return
        lists = [window(self._ids(t)) for t in types]
        if len(lists) == 1:
            yield from lists[0]
        elif lists:
            # A multi-typed entity is in several lists: once in the answer, as in the store.
            last = None
            for entity_id in heapq.merge(*lists):
                if entity_id != last:
                    yield entity_id
                last = entity_id

