"""PostgreSQL store (asyncpg): what several replicas of one node share.

Semantics are those of ``SqliteStore`` (the contract suite runs against both); what differs is
that several processes write at once, so every invariant the SQLite store gets from its single
writer thread is made explicit here:

- Upserts are ``INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE content_hash <> ...``: two
  replicas ingesting the same file race on the row lock, and the second sees an unchanged
  hash, so there are no duplicates and no second change event.
- The change feed's cursor is a ``bigserial``, and a sequence value is taken at insert time,
  not at commit: with two writers, cursor 8 could commit before cursor 7, and a subscriber that
  read 8 and saved it as its cursor would skip 7 forever. Every transaction that inserts into
  ``changes`` therefore takes the schema's change-feed advisory lock first and holds it to
  commit: cursors are allocated and become visible in the same order. Those inserts come last
  in each transaction (after every row lock it takes), so the lock is held briefly and never
  while waiting for a row lock, which could deadlock with a writer holding that row.
- Audit appends read the head and insert the next entry under the audit advisory lock in the
  same transaction, so the chain stays one linear chain whichever replica appends.
- The jti replay cache and the rate-limit counters are rows, so every replica sees the same.
- Committed changes are announced with ``NOTIFY`` (delivered at commit, once per transaction);
  ``listen_changes`` lets a node wake its subscription streams when another replica wrote.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg
import orjson

from ..errors import AlreadyExists
from . import _pg, _pg_audit
from ._pg_console import PostgresConsole
from ._pg_csource import PostgresCSources
from ._pg_sql import (
    AGREEMENT_COLS,
    DELETE_TYPES,
    ENTITY_COLS,
    INSERT_ENTITY,
    INSERT_TYPES,
    RUN_COLS,
    UPSERT_ENTITIES,
    agreement_row,
    audit_row,
    entity_groups,
    entity_row,
    scan_sql,
)
from ._pg_temporal import PostgresHistory, record_writes
from .base import (
    AgreementRow,
    AuditBuilder,
    AuditRow,
    Change,
    EntityFilter,
    EntityWrite,
    IngestRun,
    NodeAddress,
    QuarantineRecord,
    Release,
    StoredEntity,
    UpsertCounts,
)
from .migrations import Migration
from .released_groups import release_postgres

JTI_PURGE_SECONDS = 60.0
# A change-feed row: entity id, first type, kind, content hash, previous doc, multi-typed.
ChangeRow = tuple[str, str, str, str, bytes | None, bool]


class PostgresStore(PostgresHistory, PostgresConsole, PostgresCSources):
    """``Store`` in one PostgreSQL schema, shared by the replicas of a node; ``history``:
    entity writes add to the entity history (temporal API) in their own transaction."""

    def __init__(self, dsn: str, *, schema: str = "public", min_size: int = 1,
                 max_size: int = 10, history: bool = True) -> None:
        self.dsn = dsn
        self.history = history
        self.schema = _pg.check_schema(schema)
        self.applied_migrations: list[Migration] = []
        self._db = _pg.Connections(dsn, schema, min_size, max_size)
        self._changes_lock = _pg.lock_key(schema, "changes")
        self._audit_lock = _pg.lock_key(schema, "audit")
        self._witness_lock = _pg.lock_key(schema, "witness")
        self._channel = _pg.channel_name(schema)
        self._jti_purged_at = 0.0

    async def open(self) -> None:
        self.applied_migrations = await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def listen_changes(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(topic)`` after any replica commits a change.

        Topics: ``entities`` (the change feed grew) and ``agreements``.
        """
        await self._db.listen(self._channel, callback)

    async def _record_changes(self, conn: asyncpg.Connection, rows: Sequence[ChangeRow],
                              now: float) -> None:
        """Append (entity_id, type, kind, hash, previous doc, multi-typed) rows to the feed:
        last in the transaction."""
        if not rows:
            return
        await conn.execute("SELECT pg_advisory_xact_lock($1)", self._changes_lock)
        ids, types, kinds, hashes, prev, multi = (list(c) for c in zip(*rows, strict=True))
        # ORDER BY ord: cursors follow the order of the writes within the batch.
        await conn.execute(
            "INSERT INTO changes (entity_id, entity_type, kind, content_hash, at, last_doc,"
            " multi_typed) SELECT i, t, k, h, $5, p, m FROM unnest($1::text[], $2::text[],"
            " $3::text[], $4::text[], $6::bytea[], $7::bool[])"
            " WITH ORDINALITY AS c(i, t, k, h, p, m, ord) ORDER BY ord",
            ids, types, kinds, hashes, now, prev, multi)
        await conn.execute("SELECT pg_notify($1, 'entities')", self._channel)

    # -- entities ---------------------------------------------------------------------------
    async def _upsert(self, conn: asyncpg.Connection, writes: Sequence[EntityWrite],
                      now: float) -> tuple[UpsertCounts, list[ChangeRow]]:
        """Upsert, and (``history``) record what each change adds to the entity history."""
        created = updated = 0
        changes: list[ChangeRow] = []
        history: list[tuple[str, str, bytes | None, bytes | None]] = []
        for group in entity_groups(writes):
            ordered = sorted(group, key=lambda w: w.id)  # one lock order for every writer
            boxes = [w.bbox or (None, None, None, None) for w in ordered]
            rows = {r["id"]: r for r in await conn.fetch(
                UPSERT_ENTITIES, [w.id for w in ordered], [w.type for w in ordered],
                [w.doc for w in ordered], [w.content_hash for w in ordered], now,
                *([b[i] for b in boxes] for i in range(4)))}
            written = {i: r["created"] for i, r in rows.items()}
            changed = [w for w in group if w.id in written]
            await self._write_types(conn, changed, [w.id for w in changed if not written[w.id]])
            for w in changed:
                kind = "created" if written[w.id] else "updated"
                prev = None if written[w.id] else rows[w.id]["prev_doc"]
                multi = bool(w.more_types) or prev is not None and b'"type":[' in prev
                changes.append((w.id, w.type, kind, w.content_hash, prev, multi))
                history.append((w.id, w.type, prev, w.doc))
            created += sum(1 for c in written.values() if c)
            updated += sum(1 for c in written.values() if not c)
        if self.history:
            await record_writes(conn, history, now)
        return UpsertCounts(created, updated, len(writes) - created - updated), changes

    async def upsert_entities(self, writes: Sequence[EntityWrite], now: float) -> UpsertCounts:
        async def run(conn: asyncpg.Connection) -> UpsertCounts:
            counts, changes = await self._upsert(conn, writes, now)
            await self._record_changes(conn, changes, now)
            return counts

        return await self._db.tx(run)

    async def create_entity(self, write: EntityWrite, now: float) -> None:
        async def run(conn: asyncpg.Connection) -> None:
            box = write.bbox or (None, None, None, None)
            if not await conn.fetchval(INSERT_ENTITY, write.id, write.type, write.doc,
                                       write.content_hash, now, *box):
                raise AlreadyExists(f"entity {write.id} already exists")
            await self._write_types(conn, [write], [])
            if self.history:
                await record_writes(conn, [(write.id, write.type, None, write.doc)], now)
            await self._record_changes(conn, [(write.id, write.type, "created",
                                               write.content_hash, None,
                                               bool(write.more_types))], now)

        await self._db.tx(run)

    async def delete_entity(self, entity_id: str, now: float) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            row = await conn.fetchrow("DELETE FROM entities WHERE id = $1"
                                      " RETURNING type, content_hash, doc", entity_id)
            if row is None:
                return False
            if self.history:
                await record_writes(conn, [(entity_id, row[0], row[2], None)], now)
            await self._record_changes(conn, [(entity_id, row[0], "deleted", row[1], None,
                                               b'"type":[' in row[2])], now)
            # Still under the feed lock taken above: the newest row of this entity is ours.
            await conn.execute("UPDATE changes SET last_doc = $2 WHERE cursor = (SELECT"
                               " max(cursor) FROM changes WHERE entity_id = $1)",
                               entity_id, row[2])
            return True

        return await self._db.tx(run)

    async def get_entity(self, entity_id: str) -> StoredEntity | None:
        rows = await self._db.fetch(f"SELECT {ENTITY_COLS} FROM entities e WHERE e.id = $1",
                                    entity_id)
        return entity_row(rows[0]) if rows else None

    async def scan_entities(self, flt: EntityFilter,
                            chunk: int = 500) -> AsyncIterator[StoredEntity]:
        after = flt.after_id
        while True:
            sql, args = scan_sql(flt, after, chunk)
            rows = await self._db.fetch(sql, *args)
            for row in rows:
                yield entity_row(row)
            if len(rows) < chunk:
                return
            after = rows[-1][0]

    async def scan_docs(self, flt: EntityFilter, limit: int, offset: int = 0) -> list[bytes]:
        """One page of stored bytes (``DocPages``) in id order."""
        sql, args = scan_sql(flt, flt.after_id, limit)
        sql = sql.replace(ENTITY_COLS, "e.doc", 1) + f" OFFSET ${len(args) + 1}"
        return [bytes(r[0]) for r in await self._db.fetch(sql, *args, offset)]

    async def scan_doc_array(self, flt: EntityFilter, limit: int, offset: int = 0
                             ) -> tuple[bytes, bool]:
        """One page as the JSON array of its stored documents, built by PostgreSQL, and
        whether another match follows (the NGSI-LD API's ``DocArrays`` fast path)."""
        page_sql, args = scan_sql(flt, flt.after_id, limit + 1)
        page_sql = page_sql.replace(ENTITY_COLS, "e.id, e.doc", 1) + f" OFFSET ${len(args) + 1}"
        # One row past the page tells whether more follow; the array holds the page only.
        size = f"${len(args) + 2}"
        sql = ("SELECT '['::bytea || coalesce(string_agg(doc, ','::bytea ORDER BY n)"
               f" FILTER (WHERE n <= {size}), ''::bytea) || ']'::bytea, count(*) > {size}"
               " FROM (SELECT doc, row_number() OVER (ORDER BY id) AS n"
               f" FROM ({page_sql}) page) numbered")
        row = (await self._db.fetch(sql, *args, offset, limit))[0]
        return bytes(row[0]), bool(row[1])

    async def _write_types(self, conn: asyncpg.Connection, writes: Sequence[EntityWrite],
                           updated: Sequence[str]) -> None:
        """The type rows of entities just written (``updated``: ids whose old rows go)."""
        if updated:
            await conn.execute(DELETE_TYPES, list(updated))
        if writes:
            await conn.execute(INSERT_TYPES, [w.id for w in writes],
                               [orjson.dumps(w.types).decode() for w in writes])

    async def count_entities(self, types: Sequence[str] = ()) -> int:
        if types:
            return int(await self._db.val(
                "SELECT count(DISTINCT id) FROM entity_types WHERE type = ANY($1)", list(types)))
        return int(await self._db.val("SELECT count(*) FROM entities"))

    async def entity_types(self) -> dict[str, int]:
        rows = await self._db.fetch(
            "SELECT type, count(*) FROM entity_types GROUP BY type ORDER BY type")
        return {r[0]: r[1] for r in rows}

    async def changes_after(self, cursor: int, types: Sequence[str] = (),
                            limit: int = 500) -> list[Change]:
        # As in SQLite: the doc is the entity's current state, with its hash.
        sql = ("SELECT c.cursor, c.kind, c.entity_id, c.entity_type,"
               " coalesce(e.content_hash, c.content_hash), e.doc, c.last_doc"
               " FROM changes c LEFT JOIN entities e ON e.id = c.entity_id WHERE c.cursor > $1")
        args: list[Any] = [cursor, limit]
        if types:
            sql += " AND (c.entity_type = ANY($3) OR c.multi_typed)"
            args.append(list(types))
        rows = await self._db.fetch(sql + " ORDER BY c.cursor LIMIT $2", *args)
        return [Change(r[0], r[1], r[2], r[3], r[4], r[6] if r[1] == "deleted" else r[5],
                       r[6] if r[1] == "updated" else None) for r in rows]

    async def last_change_cursor(self) -> int:
        return int(await self._db.val("SELECT coalesce(max(cursor), 0) FROM changes"))

    # -- ingest -----------------------------------------------------------------------------
    async def start_run(self, source: str, file: str, now: float) -> int:
        return int(await self._db.val("INSERT INTO ingest_runs (source, file, started_at)"
                                      " VALUES ($1, $2, $3) RETURNING id", source, file, now))

    async def commit_batch(self, run_id: int, source: str, writes: Sequence[EntityWrite],
                           quarantine: Sequence[QuarantineRecord], position: str | None,
                           read: int, now: float) -> UpsertCounts:
        async def run(conn: asyncpg.Connection) -> UpsertCounts:
            counts, changes = await self._upsert(conn, writes, now)
            if quarantine:
                await conn.executemany(
                    "INSERT INTO quarantine (run_id, source, file, row, col, raw_value, code,"
                    " message, record) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)"
                    " ON CONFLICT (source, file, row, code, col) DO UPDATE SET"
                    " run_id = excluded.run_id, raw_value = excluded.raw_value,"
                    " message = excluded.message, record = excluded.record, resolved_at = NULL",
                    [(run_id, source, q.file, q.row, q.column, q.raw_value, q.code, q.message,
                      orjson.dumps(q.record).decode()) for q in quarantine])
            await conn.execute(
                "UPDATE ingest_runs SET read = read + $1, mapped = mapped + $2,"
                " quarantined = quarantined + $3, created = created + $4,"
                " updated = updated + $5, unchanged = unchanged + $6 WHERE id = $7",
                read, len(writes), len(quarantine), counts.created, counts.updated,
                counts.unchanged, run_id)
            await conn.execute(
                "INSERT INTO source_positions (source, position, updated_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (source) DO UPDATE SET position = excluded.position,"
                " updated_at = excluded.updated_at", source, position, now)
            await self._record_changes(conn, changes, now)
            return counts

        return await self._db.tx(run)

    async def finish_run(self, run_id: int, now: float) -> IngestRun:
        rows = await self._db.fetch(f"UPDATE ingest_runs SET finished_at = $1 WHERE id = $2"
                                    f" RETURNING {RUN_COLS}", now, run_id)
        return IngestRun(*rows[0])

    async def source_position(self, source: str) -> str | None:
        value = await self._db.val(
            "SELECT position FROM source_positions WHERE source = $1", source)
        return None if value is None else str(value)

    async def reset_source_position(self, source: str) -> None:
        await self._db.exec("DELETE FROM source_positions WHERE source = $1", source)

    async def list_runs(self, limit: int = 50) -> list[IngestRun]:
        rows = await self._db.fetch(f"SELECT {RUN_COLS} FROM ingest_runs ORDER BY id DESC LIMIT $1",
                                    limit)
        return [IngestRun(*r) for r in rows]

    async def list_quarantine(self, source: str | None = None, include_resolved: bool = False,
                              limit: int = 1000) -> list[QuarantineRecord]:
        rows = await self._db.fetch(
            "SELECT id, run_id, source, file, row, col, raw_value, code, message, record::text,"
            " resolved_at FROM quarantine WHERE ($1::text IS NULL OR source = $1)"
            " AND ($2 OR resolved_at IS NULL) ORDER BY source, file, row LIMIT $3",
            source or None, include_resolved, limit)
        return [QuarantineRecord(source=r[2], file=r[3], row=r[4], column=r[5], raw_value=r[6],
                                 code=r[7], message=r[8], record=orjson.loads(r[9]), id=r[0],
                                 run_id=r[1], resolved=r[10] is not None) for r in rows]

    async def resolve_quarantine(self, ids: Sequence[int], now: float) -> None:
        await self._db.exec("UPDATE quarantine SET resolved_at = $1 WHERE id = ANY($2)",
                            now, list(ids))

    # -- audit ------------------------------------------------------------------------------
    async def append_audit(self, build: AuditBuilder) -> AuditRow:
        return await self._db.tx(lambda conn: _pg_audit.append(conn, self._audit_lock, build))

    async def audit_rows(self, after_seq: int = 0, limit: int = 10_000) -> list[AuditRow]:
        rows = await self._db.fetch("SELECT seq, prev_hash, entry_hash, body FROM audit"
                                    " WHERE seq > $1 ORDER BY seq LIMIT $2", after_seq, limit)
        return [audit_row(r) for r in rows]

    async def audit_head(self) -> AuditRow | None:
        rows = await self._db.fetch("SELECT seq, prev_hash, entry_hash, body FROM audit"
                                    " ORDER BY seq DESC LIMIT 1")
        return audit_row(rows[0]) if rows else None

    async def add_checkpoint(self, seq: int, jws: str, now: float) -> None:
        await self._db.exec("INSERT INTO audit_checkpoints (seq, jws, created_at)"
                            " VALUES ($1, $2, $3)", seq, jws, now)

    async def checkpoints(self) -> list[tuple[int, str]]:
        rows = await self._db.fetch("SELECT seq, jws FROM audit_checkpoints ORDER BY seq")
        return [(r[0], r[1]) for r in rows]

    async def sync_audit_tree(self) -> int:
        async def run(conn: asyncpg.Connection) -> int:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", self._audit_lock)
            return (await _pg_audit.grow_tree(conn))[0]

        return await self._db.tx(run)

    async def audit_nodes(self, addresses: Sequence[NodeAddress]) -> dict[NodeAddress, bytes]:
        return await _pg_audit.nodes(self._db, addresses)

    async def add_tree_head(self, size: int, note: str, now: float) -> bool:
        status = await self._db.exec(
            "INSERT INTO audit_heads (size, note, created_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (size) DO NOTHING", size, note, now)
        return status.endswith(" 1")

    async def tree_heads(self) -> list[tuple[int, str]]:
        rows = await self._db.fetch("SELECT size, note FROM audit_heads ORDER BY size")
        return [(r[0], r[1]) for r in rows]

    async def add_cosigned(self, size: int, witness: str, note: str, now: float) -> None:
        await self._db.exec(
            "INSERT INTO audit_cosigned (size, witness, note, created_at) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (size, witness) DO UPDATE SET note = EXCLUDED.note", size, witness,
            note, now)

    async def cosigned(self) -> list[tuple[int, str, str]]:
        rows = await self._db.fetch(
            "SELECT size, witness, note FROM audit_cosigned ORDER BY size, witness")
        return [(r[0], r[1], r[2]) for r in rows]

    async def witness_head(self, origin: str) -> tuple[int, bytes] | None:
        rows = await self._db.fetch("SELECT size, root FROM witness_heads WHERE origin = $1",
                                    origin)
        return (rows[0][0], bytes(rows[0][1])) if rows else None

    async def witness_advance(self, origin: str, known: tuple[int, bytes] | None, size: int,
                              root: bytes, note: str, now: float) -> bool:
        return await self._db.tx(lambda conn: _pg_audit.witness_advance(
            conn, self._witness_lock, origin, known, size, root, note, now))

    async def witness_cosigned(self, origin: str, min_size: int = 0,
                               limit: int = 100) -> list[tuple[int, str]]:
        rows = await self._db.fetch(
            "SELECT size, note FROM witness_cosigned WHERE origin = $1 AND size >= $2"
            " ORDER BY size LIMIT $3", origin, min_size, limit)
        return [(r[0], r[1]) for r in rows]

    # -- replay cache and counters ----------------------------------------------------------
    async def remember_jti(self, jti: str, issuer: str, binding: str | None,
                           expires_at: float, now: float) -> bool:
        # A global purge of expired entries on every call would make replicas queue on the
        # same rows; the entry at hand is purged when expired, the rest once a minute.
        purge_all = time.monotonic() - self._jti_purged_at > JTI_PURGE_SECONDS

        async def run(conn: asyncpg.Connection) -> bool:
            if purge_all:
                await conn.execute("DELETE FROM jti_cache WHERE expires_at < $1", now)
            else:
                await conn.execute("DELETE FROM jti_cache WHERE jti = $1 AND expires_at < $2",
                                   jti, now)
            while True:
                if await conn.fetchval(
                        "INSERT INTO jti_cache (jti, issuer, binding, expires_at)"
                        " VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING RETURNING 1",
                        jti, issuer, binding, expires_at):
                    return True
                row = await conn.fetchrow("SELECT issuer, binding FROM jti_cache WHERE jti = $1",
                                          jti)
                if row is not None:  # else: purged by another replica since; insert again
                    return bool(binding) and row[0] == issuer and row[1] == binding

        fresh = await self._db.tx(run)
        if purge_all:
            self._jti_purged_at = time.monotonic()
        return fresh

    async def increment_counter(self, key: str, window: int, amount: int) -> int:
        async def run(conn: asyncpg.Connection) -> int:
            value = await conn.fetchval(
                "INSERT INTO counters (key, win, value) VALUES ($1, $2, $3)"
                " ON CONFLICT (key, win) DO UPDATE SET value = counters.value + excluded.value"
                " RETURNING value", key, window, amount)
            await conn.execute("DELETE FROM counters WHERE key = $1 AND win < $2", key, window)
            return int(value)

        return await self._db.tx(run)

    async def release_groups(self, release: Release,
                             check: Callable[[Sequence[bytes]], None]) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            return await release_postgres(conn, self.schema, release, check)

        return await self._db.tx(run)

    # -- agreements and directory -----------------------------------------------------------
    async def put_agreement(self, row: AgreementRow) -> None:
        async def run(conn: asyncpg.Connection) -> None:
            await conn.execute(
                f"INSERT INTO agreements ({AGREEMENT_COLS}) VALUES ($1, $2, $3, $4, $5::jsonb,"
                " $6, $7) ON CONFLICT (id) DO UPDATE SET document = excluded.document,"
                " signatures = excluded.signatures, revocation = excluded.revocation,"
                " updated_at = excluded.updated_at",
                row.id, row.provider, row.consumer, row.document,
                orjson.dumps(row.signatures).decode(), row.revocation, row.updated_at)
            await conn.execute("SELECT pg_notify($1, 'agreements')", self._channel)

        await self._db.tx(run)

    async def get_agreement(self, agreement_id: str) -> AgreementRow | None:
        rows = await self._db.fetch(f"SELECT {AGREEMENT_COLS} FROM agreements WHERE id = $1",
                                    agreement_id)
        return agreement_row(rows[0]) if rows else None

    async def list_agreements(self) -> list[AgreementRow]:
        rows = await self._db.fetch(f"SELECT {AGREEMENT_COLS} FROM agreements ORDER BY id")
        return [agreement_row(r) for r in rows]

    async def put_directory(self, version: int, jws: str, now: float) -> None:
        await self._db.exec("INSERT INTO directory (version, jws, fetched_at) VALUES ($1, $2, $3)"
                            " ON CONFLICT (version) DO UPDATE SET jws = excluded.jws,"
                            " fetched_at = excluded.fetched_at", version, jws, now)

    async def latest_directory(self) -> tuple[int, str] | None:
        rows = await self._db.fetch("SELECT version, jws FROM directory ORDER BY version DESC"
                                    " LIMIT 1")
        return (rows[0][0], rows[0][1]) if rows else None

    async def delete_directory(self, version: int) -> bool:
        deleted = await self._db.fetch("DELETE FROM directory WHERE version = $1 RETURNING 1",
                                       version)
        return bool(deleted)

    # -- small named state ------------------------------------------------------------------
    async def get_state(self, namespace: str, key: str) -> Any | None:
        value = await self._db.val("SELECT value::text FROM state WHERE namespace = $1"
                                   " AND key = $2", namespace, key)
        return None if value is None else orjson.loads(value)

    async def put_state(self, namespace: str, key: str, value: Any) -> None:
        await self._db.exec("INSERT INTO state (namespace, key, value) VALUES ($1, $2, $3::jsonb)"
                            " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
                            namespace, key, orjson.dumps(value).decode())

    async def claim_state(self, namespace: str, key: str, value: Any) -> Any:
        await self._db.exec("INSERT INTO state (namespace, key, value) VALUES ($1, $2, $3::jsonb)"
                            " ON CONFLICT (namespace, key) DO NOTHING",
                            namespace, key, orjson.dumps(value).decode())
        return await self.get_state(namespace, key)

    async def delete_state(self, namespace: str, key: str) -> bool:
        status = await self._db.exec("DELETE FROM state WHERE namespace = $1 AND key = $2",
                                     namespace, key)
        return status != "DELETE 0"

    async def list_state(self, namespace: str) -> dict[str, Any]:
        rows = await self._db.fetch("SELECT key, value::text FROM state WHERE namespace = $1"
                                    " ORDER BY key", namespace)
        return {r[0]: orjson.loads(r[1]) for r in rows}
