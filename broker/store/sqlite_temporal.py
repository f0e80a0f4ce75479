"""The SQLite store's entity history statements (the NGSI-LD temporal API's tables).

Run on the store's writer thread inside the caller's transaction, except ``read_instances``
and ``scan``, which also run on the reader.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from .base import (
    EntityFilter,
    InstanceWindow,
    InstanceWrite,
    StoredInstance,
    TemporalEntityRow,
    TemporalEntityWrite,
)
from .history import history_of
from .history_sql import scan_sql, window_sql
from .sqlite_reader import SqliteReader

_UPSERT_HEAD = (
    "INSERT INTO temporal_entities (id, type, doc, created_at, modified_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET type = excluded.type,"
    " doc = excluded.doc, modified_at = excluded.modified_at")
_INSERT_INSTANCE = (
    "INSERT INTO temporal_instances (instance_id, entity_id, attr, dataset_id, entity_type,"
    " observed_at, created_at, modified_at, deleted_at, doc)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")

# The temporal API's writes: a known observation (attribute, datasetId, observedAt) again.
_REPLACE_OBSERVATION = (
    "UPDATE temporal_instances SET doc = ?, modified_at = ? WHERE entity_id = ? AND attr = ?"
    " AND dataset_id = ? AND observed_at = ? AND deleted_at IS NULL")


def record(db: sqlite3.Connection, entity: TemporalEntityWrite | None, entity_id: str,
           entity_type: str, instances: Sequence[InstanceWrite], now: float) -> bool:
    """Create or touch the temporal entity (unless None) and add instances; True if new.
    An instance observed at the same time as one held (same attribute and datasetId)
    replaces that one's value: it is the same observation, sent again."""
    created = False
    if entity is not None:
        created = db.execute("SELECT 1 FROM temporal_entities WHERE id = ?",
                             (entity.id,)).fetchone() is None
        db.execute(_UPSERT_HEAD, (entity.id, entity.type, entity.doc, now, now))
    instances = [i for i in instances if not (
        i.observed_at is not None and i.deleted_at is None and db.execute(
            _REPLACE_OBSERVATION, (i.doc, now, entity_id, i.attr, i.dataset_id, i.observed_at)
        ).rowcount)]
    db.executemany(
        _INSERT_INSTANCE,
        [(i.instance_id, entity_id, i.attr, i.dataset_id, entity_type, i.observed_at, now, now,
          i.deleted_at, i.doc) for i in instances])
    return created


def record_writes(db: sqlite3.Connection,
                  writes: Sequence[tuple[str, str, bytes | None, bytes | None]],
                  now: float) -> None:
    """Record what entity writes (id, type, bytes before, after) add to history: one
    statement per table for the whole batch (an ingest commits hundreds at once)."""
    heads: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []
    for entity_id, entity_type, old, new in writes:
        entity, instances = history_of(entity_id, entity_type, old, new, now)
        if entity is not None:
            heads.append((entity.id, entity.type, entity.doc, now, now))
        rows.extend((i.instance_id, entity_id, i.attr, i.dataset_id, entity_type, i.observed_at,
                     now, now, i.deleted_at, i.doc) for i in instances)
    db.executemany(_UPSERT_HEAD, heads)
    db.executemany(_INSERT_INSTANCE, rows)


def read_instances(db: sqlite3.Connection, entity_id: str,
                   window: InstanceWindow) -> list[StoredInstance]:
    sql, args = window_sql(entity_id, window)
    return [StoredInstance(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6], r[7], r[8])
            for r in db.execute(sql, args).fetchall()]


def scan(db: sqlite3.Connection, flt: EntityFilter, limit: int) -> list[TemporalEntityRow]:
    sql, args = scan_sql(flt, limit)
    return [TemporalEntityRow(r[0], r[1], bytes(r[2]), r[3], r[4])
            for r in db.execute(sql, args).fetchall()]


def delete_entity(db: sqlite3.Connection, entity_id: str) -> bool:
    db.execute("DELETE FROM temporal_instances WHERE entity_id = ?", (entity_id,))
    return bool(db.execute("DELETE FROM temporal_entities WHERE id = ?", (entity_id,)).rowcount)


def delete_attribute(db: sqlite3.Connection, entity_id: str, attr: str,
                     dataset_id: str | None, every_dataset: bool) -> int:
    sql = "DELETE FROM temporal_instances WHERE entity_id = ? AND attr = ?"
    args: list[Any] = [entity_id, attr]
    if not every_dataset:
        sql += " AND dataset_id = ?"
        args.append(dataset_id or "")
    return int(db.execute(sql, args).rowcount)


def delete_instance(db: sqlite3.Connection, entity_id: str, attr: str,
                    instance_id: str) -> bool:
    return bool(db.execute("DELETE FROM temporal_instances WHERE entity_id = ? AND attr = ?"
                           " AND instance_id = ?", (entity_id, attr, instance_id)).rowcount)


def replace_instance(db: sqlite3.Connection, entity_id: str, attr: str, instance_id: str,
                     doc: bytes, observed_at: float | None, now: float) -> bool:
    return bool(db.execute(
        "UPDATE temporal_instances SET doc = ?, observed_at = ?, modified_at = ?"
        " WHERE entity_id = ? AND attr = ? AND instance_id = ?",
        (doc, observed_at, now, entity_id, attr, instance_id)).rowcount)


def prune(db: sqlite3.Connection, before: float, types: Sequence[str],
          except_types: Sequence[str]) -> int:
    sql = "DELETE FROM temporal_instances WHERE created_at < ?"
    args: list[Any] = [before]
    if types:
        sql += f" AND entity_type IN ({','.join('?' * len(types))})"
        args.extend(types)
    if except_types:
        sql += f" AND entity_type NOT IN ({','.join('?' * len(except_types))})"
        args.extend(except_types)
    return int(db.execute(sql, args).rowcount)


class SqliteHistory:
    """The ``Store`` methods of entity history, mixed into ``SqliteStore`` (which provides
    ``_run`` on the writer and ``_reader`` for reads)."""

    _run: Any
    _reader: SqliteReader

    async def record_temporal(self, entity: TemporalEntityWrite,
                              instances: Sequence[InstanceWrite], now: float) -> bool:
        return bool(await self._run(
            lambda db: record(db, entity, entity.id, entity.type, instances, now)))

    async def temporal_entity(self, entity_id: str) -> TemporalEntityRow | None:
        rows = await self._reader.run(lambda db: scan(db, EntityFilter(ids=(entity_id,)), 1))
        return rows[0] if rows else None

    async def scan_temporal(self, flt: EntityFilter, limit: int) -> list[TemporalEntityRow]:
        return list(await self._reader.run(lambda db: scan(db, flt, limit)))

    async def temporal_instances(self, entity_id: str,
                                 window: InstanceWindow) -> list[StoredInstance]:
        return list(await self._reader.run(lambda db: read_instances(db, entity_id, window)))

    async def delete_temporal(self, entity_id: str) -> bool:
        return bool(await self._run(lambda db: delete_entity(db, entity_id)))

    async def delete_instances(self, entity_id: str, attr: str, *, dataset_id: str | None,
                               every_dataset: bool) -> int:
        return int(await self._run(
            lambda db: delete_attribute(db, entity_id, attr, dataset_id, every_dataset)))

    async def delete_instance(self, entity_id: str, attr: str, instance_id: str) -> bool:
        return bool(await self._run(lambda db: delete_instance(db, entity_id, attr, instance_id)))

    async def replace_instance(self, entity_id: str, attr: str, instance_id: str, doc: bytes,
                               observed_at: float | None, now: float) -> bool:
        return bool(await self._run(lambda db: replace_instance(
            db, entity_id, attr, instance_id, doc, observed_at, now)))

    async def prune_temporal(self, before: float, *, types: Sequence[str] = (),
                             except_types: Sequence[str] = ()) -> int:
        return int(await self._run(lambda db: prune(db, before, types, except_types)))
