"""SQLite store (WAL): the embedded default, so that one command runs a node.

All statements run on one dedicated thread that owns the connection: SQLite connections are
not thread-safe, a single writer is what SQLite wants anyway, and the event loop never blocks
on disk. Each public method is one transaction.

The entity reads the NGSI-LD API serves go to a second, read-only connection on its own thread
(``sqlite_reader.SqliteReader``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from ..errors import AlreadyExists, StoreError, StoreFull
from . import full_disk, sqlite_audit
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
from .full_disk import sqlite_disk_full
from .migrations import Migration
from .released_groups import release_sqlite
from .sqlite_console import SqliteConsole
from .sqlite_csource import SqliteCSources
from .sqlite_reader import SqliteReader
from .sqlite_temporal import SqliteHistory, record_writes
from .sqlite_writes import migrate, upsert, was_multi_typed

T = TypeVar("T")
_ENTITY_COLS = "e.id, e.type, e.doc, e.content_hash, e.created_at, e.modified_at, " \
               "e.minx, e.miny, e.maxx, e.maxy"


class SqliteStore(SqliteHistory, SqliteConsole, SqliteCSources):
    """``Store`` on one SQLite file; ``history``: entity writes add to the entity history
    (the temporal API's instances) in their own transaction."""

    def __init__(self, path: Path | str, *, history: bool = True) -> None:
        self.path = Path(path)
        self.history = history
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="renkei-sqlite")
        self._db: sqlite3.Connection | None = None
        self.applied_migrations: list[Migration] = []  # by the last open()
        self._reader = SqliteReader(self.path)
        self._watch: asyncio.Task[None] | None = None
        self._full = full_disk.FullDiskLog(str(self.path), self.path)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._db is not None, "store is not open"
            try:
                with self._db:  # one transaction per call
                    return fn(self._db)
            except sqlite3.Error as exc:
                if sqlite_disk_full(exc, self.path):
                    self._full.seen(exc)
                    raise StoreFull(full_disk.MESSAGE) from exc
                raise StoreError(f"sqlite: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def open(self) -> None:
        def connect() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=10000")
            db.isolation_level = "DEFERRED"
            self._db = db
            self.applied_migrations = migrate(db)

        await asyncio.get_running_loop().run_in_executor(self._pool, connect)
        await self._reader.open()  # after the migrations: the file and WAL exist

    async def listen_changes(self, callback: Callable[[str], None],
                             every: float = 0.5) -> None:
        """Call ``callback(topic)`` after another process commits to this file: the CLI
        countersigning an agreement, ``renkei map --config`` ingesting beside a running node.

        Topics as on PostgreSQL: ``agreements`` and ``entities``. SQLite's ``data_version``
        changes only when another connection commits, so the poll (every ``every`` seconds)
        costs one pragma while nobody else writes."""
        if self._watch is None:
            start = await self._run(_file_state)
            self._watch = asyncio.create_task(self._follow_file(callback, every, start),
                                              name=f"sqlite-watch:{self.path.name}")

    async def _follow_file(self, callback: Callable[[str], None], every: float,
                           seen: tuple[int, Any, int]) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                now = await self._run(_file_state)
            except StoreError:
                continue  # busy or closing: look again next time
            if now[0] != seen[0]:
                if now[1] != seen[1]:
                    callback("agreements")
                if now[2] != seen[2]:
                    callback("entities")
                seen = now

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        await self._reader.close()
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._pool, db.close)
        self._pool.shutdown(wait=True)

    # -- entities ---------------------------------------------------------------------------
    async def upsert_entities(self, writes: Sequence[EntityWrite], now: float) -> UpsertCounts:
        return await self._run(lambda db: upsert(db, writes, now, history=self.history))

    async def create_entity(self, write: EntityWrite, now: float) -> None:
        def create(db: sqlite3.Connection) -> None:
            if db.execute("SELECT 1 FROM entities WHERE id = ?", (write.id,)).fetchone():
                raise AlreadyExists(f"entity {write.id} already exists")
            upsert(db, [write], now, history=self.history)

        await self._run(create)

    async def delete_entity(self, entity_id: str, now: float) -> bool:
        def delete(db: sqlite3.Connection) -> bool:
            row = db.execute("SELECT rid, type, content_hash, doc FROM entities WHERE id = ?",
                             (entity_id,)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM entities WHERE rid = ?", (row[0],))
            db.execute("DELETE FROM entities_geo WHERE rid = ?", (row[0],))
            db.execute("DELETE FROM entity_types WHERE rid = ?", (row[0],))
            db.execute("INSERT INTO changes (entity_id, entity_type, kind, content_hash, at,"
                       " last_doc, multi_typed) VALUES (?, ?, 'deleted', ?, ?, ?, ?)",
                       (entity_id, row[1], row[2], now, row[3], int(was_multi_typed(row[3]))))
            if self.history:
                record_writes(db, [(entity_id, row[1], row[3], None)], now)
            return True

        return await self._run(delete)

    async def get_entity(self, entity_id: str) -> StoredEntity | None:
        rows = await self._reader.run(lambda db: db.execute(
            f"SELECT {_ENTITY_COLS} FROM entities e WHERE e.id = ?", (entity_id,)).fetchall())
        return _entity(rows[0]) if rows else None

    async def scan_entities(self, flt: EntityFilter,
                            chunk: int = 500) -> AsyncIterator[StoredEntity]:
        after = flt.after_id
        while True:
            rows = await self._reader.run(_fetch(*_scan_sql(flt, after, chunk)))
            for row in rows:
                yield _entity(row)
            if len(rows) < chunk:
                return
            after = rows[-1][0]

    async def scan_docs(self, flt: EntityFilter, limit: int, offset: int = 0) -> list[bytes]:
        """One page of stored bytes (``DocPages``): a single query, no row objects.

        SQLite concatenates the page itself, in the subquery's id order, with a separator
        (0x1E) that no JSON text can hold raw: one value crosses into Python instead of a row
        per entity, and ``bytes.split`` cuts it back into documents.
        """
        sql, args = _scan_sql(flt, flt.after_id, limit)
        sql = sql.replace(_ENTITY_COLS, "e.doc", 1) + " OFFSET ?"
        args.append(offset)
        joined = f"SELECT CAST(group_concat(doc, char(30)) AS BLOB) FROM ({sql})"

        def page(db: sqlite3.Connection) -> list[bytes]:
            blob = db.execute(joined, args).fetchone()[0]
            return blob.split(b"\x1e") if blob else []

        return await self._reader.run(page)

    async def scan_doc_array(self, flt: EntityFilter, limit: int, offset: int = 0
                             ) -> tuple[bytes, bool]:
        """One page as the JSON array of its stored documents, built by SQLite, and whether
        another match follows it (the NGSI-LD API's ``DocArrays`` fast path): the response
        body crosses into Python as one value, with nothing split, joined or copied there.
        One statement, so both answers come from the same snapshot."""
        page_sql, page_args = _scan_sql(flt, flt.after_id, limit)
        page_sql = page_sql.replace(_ENTITY_COLS, "e.doc", 1) + " OFFSET ?"
        probe_sql, probe_args = _scan_sql(flt, flt.after_id, 1)
        probe_sql = probe_sql.replace(_ENTITY_COLS, "1", 1) + " OFFSET ?"
        sql = ("SELECT (SELECT CAST('[' || coalesce(group_concat(doc, ','), '') || ']' AS BLOB)"
               f" FROM ({page_sql})), EXISTS ({probe_sql})")
        args = [*page_args, offset, *probe_args, offset + limit]

        def page(db: sqlite3.Connection) -> tuple[bytes, bool]:
            array, more = db.execute(sql, args).fetchone()
            return bytes(array), bool(more)

        return await self._reader.run(page)

    async def count_entities(self, types: Sequence[str] = ()) -> int:
        if types:
            marks = ",".join("?" * len(types))
            sql, args = (f"SELECT count(DISTINCT rid) FROM entity_types WHERE type IN ({marks})",
                         tuple(types))
        else:
            sql, args = "SELECT count(*) FROM entities", ()
        return int(await self._reader.run(lambda db: db.execute(sql, args).fetchone()[0]))

    async def entity_types(self) -> dict[str, int]:
        rows = await self._run(lambda db: db.execute(
            "SELECT type, count(*) FROM entity_types GROUP BY type ORDER BY type").fetchall())
        return {r[0]: r[1] for r in rows}

    async def changes_after(self, cursor: int, types: Sequence[str] = (),
                            limit: int = 500) -> list[Change]:
        # The doc is the entity's current state; its hash goes with it (at-least-once
        # delivery of the latest state, idempotent by (id, hash)).
        sql = ("SELECT c.cursor, c.kind, c.entity_id, c.entity_type,"
               " coalesce(e.content_hash, c.content_hash), e.doc, c.last_doc "
               "FROM changes c LEFT JOIN entities e ON e.id = c.entity_id WHERE c.cursor > ?")
        args: list[Any] = [cursor]
        if types:
            sql += f" AND (c.entity_type IN ({','.join('?' * len(types))}) OR c.multi_typed)"
            args.extend(types)
        sql += " ORDER BY c.cursor LIMIT ?"
        args.append(limit)
        rows = await self._run(lambda db: db.execute(sql, args).fetchall())
        return [Change(r[0], r[1], r[2], r[3], r[4], r[6] if r[1] == "deleted" else r[5],
                       r[6] if r[1] == "updated" else None) for r in rows]

    async def last_change_cursor(self) -> int:
        return int(await self._run(lambda db: db.execute(
            "SELECT coalesce(max(cursor), 0) FROM changes").fetchone()[0]))

    # -- ingest -----------------------------------------------------------------------------
    async def start_run(self, source: str, file: str, now: float) -> int:
        return int(await self._run(lambda db: db.execute(
            "INSERT INTO ingest_runs (source, file, started_at) VALUES (?, ?, ?)",
            (source, file, now)).lastrowid or 0))

    async def commit_batch(self, run_id: int, source: str, writes: Sequence[EntityWrite],
                           quarantine: Sequence[QuarantineRecord], position: str | None,
                           read: int, now: float) -> UpsertCounts:
        def commit(db: sqlite3.Connection) -> UpsertCounts:
            counts = upsert(db, writes, now, history=self.history)
            for q in quarantine:
                db.execute(
                    "INSERT INTO quarantine (run_id, source, file, row, col, raw_value, code,"
                    " message, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (source, file, row, code, col) DO UPDATE SET"
                    " run_id = excluded.run_id, raw_value = excluded.raw_value,"
                    " message = excluded.message, record = excluded.record, resolved_at = NULL",
                    (run_id, source, q.file, q.row, q.column, q.raw_value, q.code, q.message,
                     orjson.dumps(q.record).decode()))
            db.execute(
                "UPDATE ingest_runs SET read = read + ?, mapped = mapped + ?,"
                " quarantined = quarantined + ?, created = created + ?, updated = updated + ?,"
                " unchanged = unchanged + ? WHERE id = ?",
                (read, len(writes), len(quarantine), counts.created, counts.updated,
                 counts.unchanged, run_id))
            db.execute("INSERT INTO source_positions (source, position, updated_at)"
                       " VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET"
                       " position = excluded.position, updated_at = excluded.updated_at",
                       (source, position, now))
            return counts

        return await self._run(commit)

    async def finish_run(self, run_id: int, now: float) -> IngestRun:
        def finish(db: sqlite3.Connection) -> IngestRun:
            db.execute("UPDATE ingest_runs SET finished_at = ? WHERE id = ?", (now, run_id))
            return IngestRun(*db.execute("SELECT * FROM ingest_runs WHERE id = ?",
                                         (run_id,)).fetchone())

        return await self._run(finish)

    async def source_position(self, source: str) -> str | None:
        row = await self._run(lambda db: db.execute(
            "SELECT position FROM source_positions WHERE source = ?", (source,)).fetchone())
        return row[0] if row else None

    async def reset_source_position(self, source: str) -> None:
        await self._run(lambda db: db.execute(
            "DELETE FROM source_positions WHERE source = ?", (source,)))

    async def list_runs(self, limit: int = 50) -> list[IngestRun]:
        rows = await self._run(lambda db: db.execute(
            "SELECT * FROM ingest_runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall())
        return [IngestRun(*r) for r in rows]

    async def list_quarantine(self, source: str | None = None, include_resolved: bool = False,
                              limit: int = 1000) -> list[QuarantineRecord]:
        sql = ("SELECT id, run_id, source, file, row, col, raw_value, code, message, record,"
               " resolved_at FROM quarantine WHERE 1 = 1")
        args: list[Any] = []
        if source:
            sql += " AND source = ?"
            args.append(source)
        if not include_resolved:
            sql += " AND resolved_at IS NULL"
        sql += " ORDER BY source, file, row LIMIT ?"
        args.append(limit)
        rows = await self._run(lambda db: db.execute(sql, args).fetchall())
        return [QuarantineRecord(source=r[2], file=r[3], row=r[4], column=r[5], raw_value=r[6],
                                 code=r[7], message=r[8], record=orjson.loads(r[9]), id=r[0],
                                 run_id=r[1], resolved=r[10] is not None) for r in rows]

    async def resolve_quarantine(self, ids: Sequence[int], now: float) -> None:
        await self._run(lambda db: db.executemany(
            "UPDATE quarantine SET resolved_at = ? WHERE id = ?", [(now, i) for i in ids]))

    # -- audit ------------------------------------------------------------------------------
    async def append_audit(self, build: AuditBuilder) -> AuditRow:
        return await self._run(lambda db: sqlite_audit.append(db, build))

    async def audit_rows(self, after_seq: int = 0, limit: int = 10_000) -> list[AuditRow]:
        rows = await self._run(lambda db: db.execute(
            "SELECT seq, prev_hash, entry_hash, body FROM audit WHERE seq > ? ORDER BY seq"
            " LIMIT ?", (after_seq, limit)).fetchall())
        return [AuditRow(*r) for r in rows]

    async def audit_head(self) -> AuditRow | None:
        row = await self._run(lambda db: db.execute(
            "SELECT seq, prev_hash, entry_hash, body FROM audit ORDER BY seq DESC LIMIT 1"
        ).fetchone())
        return AuditRow(*row) if row else None

    async def add_checkpoint(self, seq: int, jws: str, now: float) -> None:
        await self._run(lambda db: db.execute(
            "INSERT INTO audit_checkpoints (seq, jws, created_at) VALUES (?, ?, ?)",
            (seq, jws, now)))

    async def checkpoints(self) -> list[tuple[int, str]]:
        rows = await self._run(lambda db: db.execute(
            "SELECT seq, jws FROM audit_checkpoints ORDER BY seq").fetchall())
        return [(r[0], r[1]) for r in rows]

    async def sync_audit_tree(self) -> int:
        return (await self._run(sqlite_audit.grow_tree))[0]

    async def audit_nodes(self, addresses: Sequence[NodeAddress]) -> dict[NodeAddress, bytes]:
        return await self._run(lambda db: sqlite_audit.nodes(db, addresses))

    async def add_tree_head(self, size: int, note: str, now: float) -> bool:
        return await self._run(lambda db: sqlite_audit.add_head(db, size, note, now))

    async def tree_heads(self) -> list[tuple[int, str]]:
        rows = await self._run(lambda db: db.execute(
            "SELECT size, note FROM audit_heads ORDER BY size").fetchall())
        return [(r[0], r[1]) for r in rows]

    async def add_cosigned(self, size: int, witness: str, note: str, now: float) -> None:
        await self._run(lambda db: sqlite_audit.add_cosigned(db, size, witness, note, now))

    async def cosigned(self) -> list[tuple[int, str, str]]:
        rows = await self._run(lambda db: db.execute(
            "SELECT size, witness, note FROM audit_cosigned ORDER BY size, witness").fetchall())
        return [(r[0], r[1], r[2]) for r in rows]

    async def witness_head(self, origin: str) -> tuple[int, bytes] | None:
        row = await self._run(lambda db: db.execute(
            "SELECT size, root FROM witness_heads WHERE origin = ?", (origin,)).fetchone())
        return (row[0], bytes(row[1])) if row else None

    async def witness_advance(self, origin: str, known: tuple[int, bytes] | None, size: int,
                              root: bytes, note: str, now: float) -> bool:
        return await self._run(lambda db: sqlite_audit.witness_advance(
            db, origin, known, size, root, note, now))

    async def witness_cosigned(self, origin: str, min_size: int = 0,
                               limit: int = 100) -> list[tuple[int, str]]:
        rows = await self._run(lambda db: db.execute(
            "SELECT size, note FROM witness_cosigned WHERE origin = ? AND size >= ?"
            " ORDER BY size LIMIT ?", (origin, min_size, limit)).fetchall())
        return [(r[0], r[1]) for r in rows]

    # -- replay cache and counters ----------------------------------------------------------
    async def remember_jti(self, jti: str, issuer: str, binding: str | None,
                           expires_at: float, now: float) -> bool:
        def remember(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM jti_cache WHERE expires_at < ?", (now,))
            row = db.execute("SELECT issuer, binding FROM jti_cache WHERE jti = ?",
                             (jti,)).fetchone()
            if row is None:
                db.execute("INSERT INTO jti_cache VALUES (?, ?, ?, ?)",
                           (jti, issuer, binding, expires_at))
                return True
            return bool(binding) and row[0] == issuer and row[1] == binding

        return await self._run(remember)

    async def increment_counter(self, key: str, window: int, amount: int) -> int:
        def incr(db: sqlite3.Connection) -> int:
            db.execute("INSERT INTO counters (key, window, value) VALUES (?, ?, ?)"
                       " ON CONFLICT (key, window) DO UPDATE SET value = value + excluded.value",
                       (key, window, amount))
            db.execute("DELETE FROM counters WHERE key = ? AND window < ?", (key, window))
            return int(db.execute("SELECT value FROM counters WHERE key = ? AND window = ?",
                                  (key, window)).fetchone()[0])

        return await self._run(incr)

    async def release_groups(self, release: Release,
                             check: Callable[[Sequence[bytes]], None]) -> bool:
        return await self._run(lambda db: release_sqlite(db, release, check))

    # -- agreements and directory -----------------------------------------------------------
    async def put_agreement(self, row: AgreementRow) -> None:
        await self._run(lambda db: db.execute(
            "INSERT INTO agreements VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " document = excluded.document, signatures = excluded.signatures,"
            " revocation = excluded.revocation, updated_at = excluded.updated_at",
            (row.id, row.provider, row.consumer, row.document,
             orjson.dumps(row.signatures).decode(), row.revocation, row.updated_at)))

    async def get_agreement(self, agreement_id: str) -> AgreementRow | None:
        row = await self._run(lambda db: db.execute(
            "SELECT * FROM agreements WHERE id = ?", (agreement_id,)).fetchone())
        return _agreement(row) if row else None

    async def list_agreements(self) -> list[AgreementRow]:
        rows = await self._run(lambda db: db.execute(
            "SELECT * FROM agreements ORDER BY id").fetchall())
        return [_agreement(r) for r in rows]

    async def put_directory(self, version: int, jws: str, now: float) -> None:
        await self._run(lambda db: db.execute(
            "INSERT OR REPLACE INTO directory VALUES (?, ?, ?)", (version, jws, now)))

    async def latest_directory(self) -> tuple[int, str] | None:
        row = await self._run(lambda db: db.execute(
            "SELECT version, jws FROM directory ORDER BY version DESC LIMIT 1").fetchone())
        return (row[0], row[1]) if row else None

    async def delete_directory(self, version: int) -> bool:
        return bool(await self._run(lambda db: db.execute(
            "DELETE FROM directory WHERE version = ?", (version,)).rowcount))

    # -- small named state ------------------------------------------------------------------
    async def get_state(self, namespace: str, key: str) -> Any | None:
        # On the read connection: the NGSI-LD API looks its caller's client record up on
        # every request (a disabled client is refused at once), and the writer's thread is
        # the one place writes queue up; what was committed before the call is seen.
        row = await self._reader.run(lambda db: db.execute(
            "SELECT value FROM state WHERE namespace = ? AND key = ?", (namespace, key)
        ).fetchone())
        return orjson.loads(row[0]) if row else None

    async def put_state(self, namespace: str, key: str, value: Any) -> None:
        await self._run(lambda db: db.execute(
            "INSERT OR REPLACE INTO state VALUES (?, ?, ?)",
            (namespace, key, orjson.dumps(value).decode())))

    async def claim_state(self, namespace: str, key: str, value: Any) -> Any:
        def claim(db: sqlite3.Connection) -> Any:
            db.execute("INSERT OR IGNORE INTO state VALUES (?, ?, ?)",
                       (namespace, key, orjson.dumps(value).decode()))
            return orjson.loads(db.execute("SELECT value FROM state WHERE namespace = ? AND"
                                           " key = ?", (namespace, key)).fetchone()[0])

        return await self._run(claim)

    async def delete_state(self, namespace: str, key: str) -> bool:
        return bool(await self._run(lambda db: db.execute(
            "DELETE FROM state WHERE namespace = ? AND key = ?", (namespace, key)).rowcount))

    async def list_state(self, namespace: str) -> dict[str, Any]:
        rows = await self._run(lambda db: db.execute(
            "SELECT key, value FROM state WHERE namespace = ? ORDER BY key", (namespace,)
        ).fetchall())
        return {r[0]: orjson.loads(r[1]) for r in rows}



def _scan_sql(flt: EntityFilter, after: str, chunk: int) -> tuple[str, list[Any]]:
    if len(flt.types) == 1:
        # Off the type table's (type, id) key: one page in id order, the LIMIT stops the
        # scan after it instead of sorting every entity of the type.
        sql = f"SELECT {_ENTITY_COLS} FROM entity_types t JOIN entities e ON e.rid = t.rid"
        key = "t.id"
        where = ["t.type = ?", "t.id > ?"]
        args: list[Any] = [flt.types[0], after]
    else:
        sql = f"SELECT {_ENTITY_COLS} FROM entities e"
        key = "e.id"
        where = ["e.id > ?"]
        args = [after]
        if flt.types:
            # Any of several types: an entity having two of them is still one row.
            where.append("e.rid IN (SELECT rid FROM entity_types WHERE type IN"
                         f" ({','.join('?' * len(flt.types))}))")
            args.extend(flt.types)
    if flt.bbox is not None:
        sql += " JOIN entities_geo g ON g.rid = e.rid"
        minx, miny, maxx, maxy = flt.bbox
        where.append("g.minx <= ? AND g.maxx >= ? AND g.miny <= ? AND g.maxy >= ?")
        args.extend([maxx, minx, maxy, miny])
    if flt.ids:
        where.append(f"{key} IN ({','.join('?' * len(flt.ids))})")
        args.extend(flt.ids)
    if flt.id_prefix:
        where.append(f"{key} >= ? AND {key} < ?")
        args.extend([flt.id_prefix, flt.id_prefix + "\U0010ffff"])
    sql += " WHERE " + " AND ".join(where) + f" ORDER BY {key} LIMIT ?"
    args.append(chunk)
    return sql, args


def _fetch(sql: str, args: list[Any]) -> Callable[[sqlite3.Connection], list[Any]]:
    return lambda db: db.execute(sql, args).fetchall()


def _entity(row: Sequence[Any]) -> StoredEntity:
    bbox = None if row[6] is None else (row[6], row[7], row[8], row[9])
    return StoredEntity(row[0], row[1], row[2], row[3], row[4], row[5], bbox)


def _agreement(row: Sequence[Any]) -> AgreementRow:
    try:
        signatures = orjson.loads(row[4])
    except orjson.JSONDecodeError:
        return AgreementRow(row[0], row[1], row[2], row[3], {}, row[5], row[6],
                            damage="its signatures are not JSON")
    return AgreementRow(row[0], row[1], row[2], row[3], signatures, row[5], row[6])


def _file_state(db: sqlite3.Connection) -> tuple[int, Any, int]:
    """(data_version, agreements' shape, newest change cursor): what another process's commit
    changes."""
    version = db.execute("PRAGMA data_version").fetchone()[0]
    agreements = db.execute("SELECT count(*), max(updated_at) FROM agreements").fetchone()
    cursor = db.execute("SELECT coalesce(max(cursor), 0) FROM changes").fetchone()[0]
    return int(version), tuple(agreements), int(cursor)
