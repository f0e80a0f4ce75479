"""SQL text and row conversions of the PostgreSQL store, kept apart from its transactions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import asyncpg
import orjson

from .base import AgreementRow, AuditRow, EntityFilter, EntityWrite, StoredEntity

ENTITY_COLS = "e.id, e.type, e.doc, e.content_hash, e.created_at, e.modified_at, e.bbox"
RUN_COLS = ("id, source, file, started_at, finished_at, read, mapped, quarantined, created,"
            " updated, unchanged")
AGREEMENT_COLS = "id, provider, consumer, document, signatures, revocation, updated_at"

# A point is a degenerate box; box() with a NULL corner is NULL (no geometry, no geo index).
_BOX = "box(point({0}, {1}), point({2}, {3}))"

# Batch upsert from parallel arrays. An unchanged content hash makes the update a no-op that
# returns no row; ``xmax = 0`` holds only for a freshly inserted row version, which is how
# PostgreSQL tells an insert from an update in one ``INSERT ... ON CONFLICT`` statement.
# The CTE reads the rows as they were before the statement (one snapshot for both parts):
# ``prev_doc`` is the state an update replaced.
UPSERT_ENTITIES = (
    "WITH old AS (SELECT id, doc FROM entities WHERE id = ANY($1::text[]))"
    " INSERT INTO entities AS e (id, type, doc, content_hash, created_at, modified_at, bbox)"
    " SELECT w.id, w.type, w.doc, w.hash, $5, $5, " + _BOX.format("w.x0", "w.y0", "w.x1", "w.y1")
    + " FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $6::float8[],"
    " $7::float8[], $8::float8[], $9::float8[]) AS w(id, type, doc, hash, x0, y0, x1, y1)"
    " ON CONFLICT (id) DO UPDATE SET type = excluded.type, doc = excluded.doc,"
    " content_hash = excluded.content_hash, modified_at = excluded.modified_at,"
    " bbox = excluded.bbox WHERE e.content_hash <> excluded.content_hash"
    " RETURNING e.id, (e.xmax = 0) AS created,"
    " (SELECT old.doc FROM old WHERE old.id = e.id) AS prev_doc")

INSERT_ENTITY = (
    "INSERT INTO entities (id, type, doc, content_hash, created_at, modified_at, bbox)"
    " VALUES ($1, $2, $3, $4, $5, $5, " + _BOX.format("$6::float8", "$7::float8", "$8::float8",
                                                    "$9::float8")
    + ") ON CONFLICT (id) DO NOTHING RETURNING true")


def entity_groups(writes: Sequence[EntityWrite]) -> Iterator[list[EntityWrite]]:
    """Split a batch where an id repeats: one ``ON CONFLICT`` statement may touch a row once,
    and a later write of the same id must see the earlier one (as SQLite's loop does)."""
    group: list[EntityWrite] = []
    seen: set[str] = set()
    for w in writes:
        if w.id in seen:
            yield group
            group, seen = [], set()
        group.append(w)
        seen.add(w.id)
    if group:
        yield group


def scan_sql(flt: EntityFilter, after: str, chunk: int) -> tuple[str, list[Any]]:
    """One keyset page in id order: the same filters and semantics as the SQLite store."""
    where = ["e.id > $1"]
    args: list[Any] = [after]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if flt.bbox is not None:
        # Box overlap (touching counts), answered by the GiST index; exact check runs above.
        where.append("e.bbox && " + _BOX.format(*(arg(float(v)) for v in flt.bbox)))
    if len(flt.types) == 1:
        # Equality, not ANY: then the (type, id) index yields rows in id order and the LIMIT
        # stops the scan after one page instead of sorting every entity of the type.
        where.append(f"e.type = {arg(flt.types[0])}")
    elif flt.types:
        where.append(f"e.type = ANY({arg(list(flt.types))}::text[])")
    if flt.ids:
        where.append(f"e.id = ANY({arg(list(flt.ids))}::text[])")
    if flt.id_prefix:
        low, high = arg(flt.id_prefix), arg(flt.id_prefix + chr(0x10FFFF))
        where.append(f"e.id >= {low} AND e.id < {high}")
    sql = (f"SELECT {ENTITY_COLS} FROM entities e WHERE {' AND '.join(where)}"
           f" ORDER BY e.id LIMIT {arg(chunk)}")
    return sql, args


def entity_row(row: asyncpg.Record) -> StoredEntity:
    box = row[6]
    bbox = None if box is None else (box.low.x, box.low.y, box.high.x, box.high.y)
    return StoredEntity(row[0], row[1], row[2], row[3], row[4], row[5], bbox)


def audit_row(row: asyncpg.Record) -> AuditRow:
    return AuditRow(row[0], row[1], row[2], bytes(row[3]))


def agreement_row(row: asyncpg.Record) -> AgreementRow:
    return AgreementRow(row[0], row[1], row[2], bytes(row[3]), orjson.loads(row[4]), row[5],
                        row[6])
