"""The PostgreSQL store's entity history (the NGSI-LD temporal API's tables), mixed into
``PostgresStore``: the same statements as SQLite (``history_sql``) with numbered parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from . import _pg
from .base import (
    EntityFilter,
    InstanceWindow,
    InstanceWrite,
    StoredInstance,
    TemporalEntityRow,
    TemporalEntityWrite,
)
from .history import history_of
from .history_sql import numbered, scan_sql, window_sql

_INSERT_INSTANCES = (
    "INSERT INTO temporal_instances (instance_id, entity_id, attr, dataset_id, entity_type,"
    " observed_at, created_at, modified_at, deleted_at, doc)"
    " SELECT i, $2, a, d, $3, o, $4, $4, x, doc FROM unnest($1::text[], $5::text[],"
    " $6::text[], $7::float8[], $8::float8[], $9::bytea[]) AS u(i, a, d, o, x, doc)")


async def record(conn: asyncpg.Connection, entity: TemporalEntityWrite | None, entity_id: str,
                 entity_type: str, instances: Sequence[InstanceWrite], now: float, *,
                 replace_observations: bool = False) -> bool:
    """Create or touch the temporal entity (unless None) and add instances; True if new.
    With ``replace_observations`` (the temporal API's writes, as in SQLite) an instance
    observed at the same time as one held (same attribute and datasetId) replaces that
    one's value: it is the same observation, sent again."""
    created = False
    if entity is not None:
        created = bool(await conn.fetchval(
            "INSERT INTO temporal_entities (id, type, doc, created_at, modified_at)"
            " VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO UPDATE SET type = excluded.type,"
            " doc = excluded.doc, modified_at = excluded.modified_at"
            " RETURNING (xmax = 0)", entity.id, entity.type, entity.doc, now))
    if replace_observations:
        kept = []
        for i in instances:
            if i.observed_at is not None and i.deleted_at is None:
                status = await conn.execute(
                    "UPDATE temporal_instances SET doc = $1, modified_at = $2"
                    " WHERE entity_id = $3 AND attr = $4 AND dataset_id = $5"
                    " AND observed_at = $6 AND deleted_at IS NULL",
                    i.doc, now, entity_id, i.attr, i.dataset_id, i.observed_at)
                if status != "UPDATE 0":
                    continue
            kept.append(i)
        instances = kept
    if instances:
        await conn.execute(
            _INSERT_INSTANCES, [i.instance_id for i in instances], entity_id, entity_type, now,
            [i.attr for i in instances], [i.dataset_id for i in instances],
            [i.observed_at for i in instances], [i.deleted_at for i in instances],
            [i.doc for i in instances])
    return created


async def record_writes(conn: asyncpg.Connection,
                        writes: Sequence[tuple[str, str, bytes | None, bytes | None]],
                        now: float) -> None:
    """Record what entity writes (id, type, bytes before, after) add to history."""
    for entity_id, entity_type, old, new in writes:
        entity, instances = history_of(entity_id, entity_type, old, new, now)
        await record(conn, entity, entity_id, entity_type, instances, now)


def _instance(r: asyncpg.Record) -> StoredInstance:
    return StoredInstance(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6], r[7], r[8])


def _entity(r: asyncpg.Record) -> TemporalEntityRow:
    return TemporalEntityRow(r[0], r[1], bytes(r[2]), r[3], r[4])


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class PostgresHistory:
    """The ``Store`` methods of entity history (``_db`` is the store's ``_pg.Connections``)."""

    _db: _pg.Connections

    async def record_temporal(self, entity: TemporalEntityWrite,
                              instances: Sequence[InstanceWrite], now: float) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            return await record(conn, entity, entity.id, entity.type, instances, now,
                                replace_observations=True)

        return bool(await self._db.tx(run))

    async def temporal_entity(self, entity_id: str) -> TemporalEntityRow | None:
        rows = await self.scan_temporal(EntityFilter(ids=(entity_id,)), 1)
        return rows[0] if rows else None

    async def scan_temporal(self, flt: EntityFilter, limit: int) -> list[TemporalEntityRow]:
        sql, args = scan_sql(flt, limit)
        return [_entity(r) for r in await self._db.fetch(numbered(sql), *args)]

    async def temporal_instances(self, entity_id: str,
                                 window: InstanceWindow) -> list[StoredInstance]:
        sql, args = window_sql(entity_id, window)
        return [_instance(r) for r in await self._db.fetch(numbered(sql), *args)]

    async def delete_temporal(self, entity_id: str) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            await conn.execute("DELETE FROM temporal_instances WHERE entity_id = $1", entity_id)
            return _count(await conn.execute("DELETE FROM temporal_entities WHERE id = $1",
                                             entity_id)) > 0

        return bool(await self._db.tx(run))

    async def delete_instances(self, entity_id: str, attr: str, *, dataset_id: str | None,
                               every_dataset: bool) -> int:
        sql = "DELETE FROM temporal_instances WHERE entity_id = $1 AND attr = $2"
        args: list[Any] = [entity_id, attr]
        if not every_dataset:
            sql += " AND dataset_id = $3"
            args.append(dataset_id or "")
        return _count(await self._db.exec(sql, *args))

    async def delete_instance(self, entity_id: str, attr: str, instance_id: str) -> bool:
        return _count(await self._db.exec(
            "DELETE FROM temporal_instances WHERE entity_id = $1 AND attr = $2"
            " AND instance_id = $3", entity_id, attr, instance_id)) > 0

    async def replace_instance(self, entity_id: str, attr: str, instance_id: str, doc: bytes,
                               observed_at: float | None, now: float) -> bool:
        return _count(await self._db.exec(
            "UPDATE temporal_instances SET doc = $1, observed_at = $2, modified_at = $3"
            " WHERE entity_id = $4 AND attr = $5 AND instance_id = $6",
            doc, observed_at, now, entity_id, attr, instance_id)) > 0

    async def prune_temporal(self, before: float, *, types: Sequence[str] = (),
                             except_types: Sequence[str] = ()) -> int:
        sql = "DELETE FROM temporal_instances WHERE created_at < $1"
        args: list[Any] = [before]
        if types:
            args.append(list(types))
            sql += f" AND entity_type = ANY(${len(args)}::text[])"
        if except_types:
            args.append(list(except_types))
            sql += f" AND NOT (entity_type = ANY(${len(args)}::text[]))"
        return _count(await self._db.exec(sql, *args))
