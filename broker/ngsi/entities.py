"""Entity operations against the store: create, read, modify, delete, and batches of them.

Every write goes through the store and then wakes change listeners (``ChangeSignal``), so
subscriptions and federation streams see API writes exactly like ingested ones. A
read-modify-write (append, update, merge, replace) holds a per-entity lock so that two
concurrent PATCHes of one entity cannot lose each other's attributes in this process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from trust.clock import Clock

from ..errors import AlreadyExists, BadRequest, NotFound
from ..service.changes import ChangeSignal
from ..service.entity_write import entity_write
from ..store.base import Store, StoredEntity
from .merge import MergeResult, append, merge

T = TypeVar("T")
# Called with (entity id, stored bytes before the write or None) just before a write.
WriteObserver = Callable[[str, bytes | None], None]


@dataclass
class BatchItem:
    """One entry of a batch request, already decoded: an entity, or why it could not be."""

    entity_id: str
    entity: dict[str, Any] | None = None
    error: Exception | None = None


@dataclass
class BatchOutcome:
    success: list[str] = field(default_factory=list)
    errors: list[tuple[str, Exception]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


class EntityService:
    """NGSI-LD entity operations on one node's store."""

    def __init__(self, store: Store, changes: ChangeSignal, clock: Clock,
                 observer: WriteObserver | None = None) -> None:
        self._store = store
        self._changes = changes
        self._clock = clock
        self._observer = observer
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, entity_id: str) -> asyncio.Lock:
        lock = self._locks.get(entity_id)
        if lock is None:
            if len(self._locks) > 10_000:  # forget idle locks; held ones are re-created
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[entity_id] = asyncio.Lock()
        return lock

    def _observe(self, entity_id: str, before: bytes | None) -> None:
        if self._observer is not None:
            self._observer(entity_id, before)

    # -- single entities --------------------------------------------------------------------
    async def create(self, entity: Mapping[str, Any]) -> None:
        self._observe(entity["id"], None)
        await self._store.create_entity(entity_write(entity), self._clock.now())
        self._changes.notify()

    async def get(self, entity_id: str) -> StoredEntity:
        stored = await self._store.get_entity(entity_id)
        if stored is None:
            raise NotFound(f"entity {entity_id[:256]} not found")
        return stored

    async def delete(self, entity_id: str) -> None:
        stored = await self._store.get_entity(entity_id)
        self._observe(entity_id, stored.doc if stored else None)
        if not await self._store.delete_entity(entity_id, self._clock.now()):
            raise NotFound(f"entity {entity_id[:256]} not found")
        self._changes.notify()

    async def modify(self, entity_id: str,
                     change: Callable[[dict[str, Any]], tuple[dict[str, Any], T]]) -> T:
        """Apply ``change`` (old entity -> (new entity, result)) under the entity's lock."""
        async with self._lock(entity_id):
            stored = await self.get(entity_id)
            new, result = change(orjson.loads(stored.doc))
            if new.get("id") != entity_id:
                raise BadRequest("an operation may not change the entity id")
            self._observe(entity_id, stored.doc)
            await self._store.upsert_entities([entity_write(new)], self._clock.now())
        self._changes.notify()
        return result

    # -- batches ----------------------------------------------------------------------------
    async def batch_create(self, items: Sequence[BatchItem]) -> BatchOutcome:
        out = BatchOutcome()
        seen: set[str] = set()
        for item in items:
            if item.error is not None or item.entity is None:
                out.errors.append((item.entity_id, item.error or BadRequest("invalid entity")))
                continue
            if item.entity_id in seen:
                out.errors.append((item.entity_id, AlreadyExists(
                    f"entity {item.entity_id} appears twice in the batch")))
                continue
            seen.add(item.entity_id)
            try:
                self._observe(item.entity_id, None)
                await self._store.create_entity(entity_write(item.entity), self._clock.now())
            except AlreadyExists as exc:
                out.errors.append((item.entity_id, exc))
                continue
            out.success.append(item.entity_id)
            out.created.append(item.entity_id)
        if out.success:
            self._changes.notify()
        return out

    async def batch_upsert(self, items: Sequence[BatchItem], *, replace: bool) -> BatchOutcome:
        """Create missing entities; replace (default) or update existing ones."""
        out = BatchOutcome()
        writes = []
        merged: dict[str, dict[str, Any]] = {}
        for item in items:
            if item.error is not None or item.entity is None:
                out.errors.append((item.entity_id, item.error or BadRequest("invalid entity")))
                continue
            previous = merged.get(item.entity_id)
            stored = None
            if previous is None:
                stored = await self._store.get_entity(item.entity_id)
                if stored is not None:
                    previous = orjson.loads(stored.doc)
                    self._observe(item.entity_id, stored.doc)
                else:
                    self._observe(item.entity_id, None)
                    out.created.append(item.entity_id)
            if previous is None or replace:
                new = item.entity
            else:
                new = merge(previous, item.entity).entity
            merged[item.entity_id] = new
            if item.entity_id not in out.success:
                out.success.append(item.entity_id)
        writes = [entity_write(e) for e in merged.values()]
        if writes:
            await self._store.upsert_entities(writes, self._clock.now())
            self._changes.notify()
        return out

    async def batch_merge(self, items: Sequence[BatchItem]) -> BatchOutcome:
        """Merge each entity (5.6.20): attributes merged member by member, Nulls delete."""

        def change(f: dict[str, Any]) -> Callable[[dict[str, Any]], tuple[dict[str, Any], None]]:
            def apply(old: dict[str, Any]) -> tuple[dict[str, Any], None]:
                return merge(old, f).entity, None
            return apply

        return await self._batch_modify(items, change)

    async def batch_update(self, items: Sequence[BatchItem], *,
                           no_overwrite: bool) -> BatchOutcome:
        """Update attributes of existing entities (``noOverwrite``: only add new ones).

        Unlike a single-entity update (6.6.3.3), a batch update also adds the attributes an
        entity does not have yet, so both cases are an append."""

        def change(f: dict[str, Any]
                   ) -> Callable[[dict[str, Any]], tuple[dict[str, Any], MergeResult]]:
            def apply(old: dict[str, Any]) -> tuple[dict[str, Any], MergeResult]:
                result = append(old, f, no_overwrite=no_overwrite)
                return result.entity, result
            return apply

        return await self._batch_modify(items, change)

    async def _batch_modify(
            self, items: Sequence[BatchItem],
            change_for: Callable[[dict[str, Any]],
                                 Callable[[dict[str, Any]],
                                          tuple[dict[str, Any], MergeResult | None]]],
    ) -> BatchOutcome:
        """Apply ``change_for(fragment)`` to each existing entity of a batch, one at a time
        under its lock; an entity that is missing, or whose change is refused, is reported in
        the outcome's errors and the others go on."""
        out = BatchOutcome()
        for item in items:
            if item.error is not None or item.entity is None:
                out.errors.append((item.entity_id, item.error or BadRequest("invalid entity")))
                continue
            try:
                result = await self.modify(item.entity_id, change_for(item.entity))
            except (NotFound, BadRequest) as exc:
                out.errors.append((item.entity_id, exc))
                continue
            if result is not None and result.not_updated:
                # noOverwrite kept some attributes: the entity is reported, naming them.
                names = ", ".join(n["attributeName"] for n in result.not_updated)
                out.errors.append((item.entity_id, BadRequest(
                    f"attributes not updated (they exist and options=noOverwrite): {names}")))
                continue
            out.success.append(item.entity_id)
        return out

    async def batch_delete(self, ids: Sequence[Any]) -> BatchOutcome:
        out = BatchOutcome()
        for entity_id in ids:
            if not isinstance(entity_id, str):
                out.errors.append((str(entity_id), BadRequest("an entity id must be a string")))
                continue
            try:
                await self.delete(entity_id)
            except NotFound as exc:
                out.errors.append((entity_id, exc))
                continue
            out.success.append(entity_id)
        return out
