"""The SQLite store's statements that change the file: migrations and entity upserts.

Run on the store's single writer thread, inside the transaction the caller opened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .base import EntityWrite, UpsertCounts
from .migrations import Migration, migrations_for
from .sqlite_temporal import record_writes


def migrate(db: sqlite3.Connection) -> list[Migration]:
    applied = []
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (number INTEGER PRIMARY KEY,"
               " name TEXT NOT NULL)")
    for migration in migrations_for("sqlite"):
        # executescript commits first; wrap the file in our own transaction instead.
        db.execute("BEGIN IMMEDIATE")
        try:
            # Read under the write lock: another process (`renkei db migrate`, a second
            # node on the file) may have applied it since.
            if db.execute("SELECT 1 FROM schema_migrations WHERE number = ?",
                          (migration.number,)).fetchone():
                db.execute("ROLLBACK")
                continue
            for statement in _statements(migration.sql):
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?)",
                       (migration.number, migration.name))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        applied.append(migration)
    return applied


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


# (entity id, type, stored bytes before, after) of each write that changed an entity.
Written = list[tuple[str, str, bytes | None, bytes | None]]


def upsert(db: sqlite3.Connection, writes: Sequence[EntityWrite], now: float, *,
           history: bool = False) -> UpsertCounts:
    """Insert or replace by id, skipping unchanged content; one change-feed row per change,
    and (``history``) the attribute instances each change adds to the entity's history."""
    written: Written = []
    if len({w.id for w in writes}) == len(writes):
        counts = _upsert_batch(db, writes, now, written)
    else:
        counts = _upsert_each(db, writes, now, written)
    if history:
        record_writes(db, written, now)
    return counts


def _upsert_batch(db: sqlite3.Connection, writes: Sequence[EntityWrite],
                  now: float, written: Written) -> UpsertCounts:
    # Statement by statement per row costs ~50 µs; a batch of distinct ids needs one lookup
    # and a few executemany calls.
    existing: dict[str, tuple[int, str, bytes, str]] = {}
    for i in range(0, len(writes), 500):
        chunk = [w.id for w in writes[i:i + 500]]
        for id_, rid, content_hash, doc, type_ in db.execute(
                f"SELECT id, rid, content_hash, doc, type FROM entities WHERE id IN"
                f" ({','.join('?' * len(chunk))})", chunk):
            existing[id_] = (rid, content_hash, doc, type_)
    inserts: list[EntityWrite] = []
    updates: list[tuple[EntityWrite, int]] = []
    retyped: list[tuple[EntityWrite, int]] = []
    changes: list[tuple[str, str, str, str, float, bytes | None, int]] = []
    for w in writes:
        held = existing.get(w.id)
        if held is None:
            inserts.append(w)
            changes.append((w.id, w.type, "created", w.content_hash, now, None,
                            int(bool(w.more_types))))
            written.append((w.id, w.type, None, w.doc))
        elif held[1] != w.content_hash:
            updates.append((w, held[0]))
            written.append((w.id, w.type, held[2], w.doc))
            multi = bool(w.more_types) or was_multi_typed(held[2])
            if multi or held[3] != w.type:
                retyped.append((w, held[0]))
            # The state before the update: a subscriber hears of it only if what it may see
            # changed.
            changes.append((w.id, w.type, "updated", w.content_hash, now, held[2], int(multi)))
    empty = (None, None, None, None)
    db.executemany(
        "INSERT INTO entities (id, type, doc, content_hash, created_at, modified_at,"
        " minx, miny, maxx, maxy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(w.id, w.type, w.doc, w.content_hash, now, now, *(w.bbox or empty)) for w in inserts])
    db.executemany(
        "UPDATE entities SET type = ?, doc = ?, content_hash = ?, modified_at = ?,"
        " minx = ?, miny = ?, maxx = ?, maxy = ? WHERE rid = ?",
        [(w.type, w.doc, w.content_hash, now, *(w.bbox or empty), rid) for w, rid in updates])
    db.executemany("DELETE FROM entities_geo WHERE rid = ?", [(rid,) for _, rid in updates])
    db.executemany(
        "INSERT INTO entities_geo SELECT rid, ?, ?, ?, ? FROM entities WHERE id = ?",
        [(w.bbox[0], w.bbox[2], w.bbox[1], w.bbox[3], w.id)
         for w in [*inserts, *(u for u, _ in updates)] if w.bbox is not None])
    db.executemany("DELETE FROM entity_types WHERE rid = ?", [(rid,) for _, rid in retyped])
    db.executemany(
        "INSERT INTO entity_types (type, id, rid) SELECT ?, id, rid FROM entities WHERE id = ?",
        [(t, w.id) for w in [*inserts, *(u for u, _ in retyped)] for t in w.types])
    db.executemany("INSERT INTO changes (entity_id, entity_type, kind, content_hash, at,"
                   " last_doc, multi_typed) VALUES (?, ?, ?, ?, ?, ?, ?)", changes)
    return UpsertCounts(len(inserts), len(updates), len(writes) - len(inserts) - len(updates))


def was_multi_typed(doc: bytes) -> bool:
    """Whether a stored entity may have several types: its compact JSON holds a ``type``
    array somewhere (at the top level for a multi-typed entity; elsewhere it only costs a
    rewrite of the entity's type rows)."""
    return b'"type":[' in doc


def _upsert_each(db: sqlite3.Connection, writes: Sequence[EntityWrite],
                 now: float, written: Written) -> UpsertCounts:
    created = updated = unchanged = 0
    for w in writes:
        row = db.execute("SELECT rid, content_hash, doc FROM entities WHERE id = ?",
                         (w.id,)).fetchone()
        if row is not None and row[1] == w.content_hash:
            unchanged += 1
            continue
        box = w.bbox or (None, None, None, None)
        if row is None:
            rid = db.execute(
                "INSERT INTO entities (id, type, doc, content_hash, created_at, modified_at,"
                " minx, miny, maxx, maxy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (w.id, w.type, w.doc, w.content_hash, now, now, *box)).lastrowid
            kind = "created"
            created += 1
        else:
            rid = row[0]
            db.execute("UPDATE entities SET type = ?, doc = ?, content_hash = ?, modified_at = ?,"
                       " minx = ?, miny = ?, maxx = ?, maxy = ? WHERE rid = ?",
                       (w.type, w.doc, w.content_hash, now, *box, rid))
            db.execute("DELETE FROM entities_geo WHERE rid = ?", (rid,))
            db.execute("DELETE FROM entity_types WHERE rid = ?", (rid,))
            kind = "updated"
            updated += 1
        db.executemany("INSERT INTO entity_types (type, id, rid) VALUES (?, ?, ?)",
                       [(t, w.id, rid) for t in w.types])
        if w.bbox is not None:
            minx, miny, maxx, maxy = w.bbox
            db.execute("INSERT INTO entities_geo VALUES (?, ?, ?, ?, ?)",
                       (rid, minx, maxx, miny, maxy))
        multi = bool(w.more_types) or row is not None and was_multi_typed(row[2])
        db.execute("INSERT INTO changes (entity_id, entity_type, kind, content_hash, at,"
                   " last_doc, multi_typed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (w.id, w.type, kind, w.content_hash, now, row[2] if row else None,
                    int(multi)))
        written.append((w.id, w.type, row[2] if row else None, w.doc))
    return UpsertCounts(created, updated, unchanged)
