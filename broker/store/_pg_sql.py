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
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if len(flt.types) == 1:
        # Off the type table's (type, id) key: rows come in id order and the LIMIT stops the
        # scan after one page instead of sorting every entity of the type.
        source = "entity_types t JOIN entities e ON e.id = t.id"
        key = "t.id"
        where = [f"t.type = {arg(flt.types[0])}", f"t.id > {arg(after)}"]
    else:
        source, key = "entities e", "e.id"
        where = [f"e.id > {arg(after)}"]
        if flt.types:
            # Any of several types: an entity having two of them is still one row.
            where.append("e.id IN (SELECT id FROM entity_types WHERE type ="
                         f" ANY({arg(list(flt.types))}::text[]))")
    if flt.bbox is not None:
        # Box overlap (touching counts), answered by the GiST index; exact check runs above.
        where.append("e.bbox && " + _BOX.format(*(arg(float(v)) for v in flt.bbox)))
    if flt.ids:
        where.append(f"{key} = ANY({arg(list(flt.ids))}::text[])")
    if flt.id_prefix:
        low, high = arg(flt.id_prefix), arg(flt.id_prefix + chr(0x10FFFF))
        where.append(f"{key} >= {low} AND {key} < {high}")
    sql = (f"SELECT {ENTITY_COLS} FROM {source} WHERE {' AND '.join(where)}"
           f" ORDER BY {key} LIMIT {arg(chunk)}")
    return sql, args


# Replace the type rows of the entities just written (``$1`` ids, ``$2`` the types of each
# as a JSON array text): delete, then insert.
DELETE_TYPES = "DELETE FROM entity_types WHERE id = ANY($1::text[])"
INSERT_TYPES = (
    "INSERT INTO entity_types (type, id) SELECT DISTINCT t, w.id"
    " FROM unnest($1::text[], $2::text[]) AS w(id, types),"
    " json_array_elements_text(w.types::json) AS t")


def entity_row(row: asyncpg.Record) -> StoredEntity:
    box = row[6]
    bbox = None if box is None else (box.low.x, box.low.y, box.high.x, box.high.y)
    return StoredEntity(row[0], row[1], row[2], row[3], row[4], row[5], bbox)


def audit_row(row: asyncpg.Record) -> AuditRow:
    return AuditRow(row[0], row[1], row[2], bytes(row[3]))


def agreement_row(row: asyncpg.Record) -> AgreementRow:
    return AgreementRow(row[0], row[1], row[2], bytes(row[3]), orjson.loads(row[4]), row[5],
                        row[6])
