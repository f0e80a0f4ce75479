"""PostgreSQL plumbing for ``PostgresStore``: names, locks, migrations, errors, the
connection pool with its transactions, and LISTEN.

Advisory locks and NOTIFY channels are per *database*, not per schema, while a node lives in
one schema: two nodes (or two test runs) sharing a database must not contend on each other's
locks. Every lock key and channel name is therefore derived from the schema name.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg

from ..errors import StoreError, StoreFull
from .full_disk import MESSAGE, FullDiskLog
from .migrations import Migration, migrations_for

log = logging.getLogger("renkei.store.postgres")
T = TypeVar("T")
CONNECT_TIMEOUT = 10.0

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# What a transaction retries on: the server resolved a conflict by aborting one side.
RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


def check_schema(schema: str) -> str:
    """A schema name we can put in ``search_path`` and SQL without quoting."""
    if not _SCHEMA_NAME.match(schema):
        raise StoreError(f"postgresql: schema name {schema!r} must match {_SCHEMA_NAME.pattern}")
    return schema


def lock_key(schema: str, purpose: str) -> int:
    """A signed 64-bit advisory lock key for ``purpose`` in ``schema``."""
    digest = hashlib.sha256(f"renkei:{schema}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def channel_name(schema: str) -> str:
    """The NOTIFY channel of one node schema (identifiers stop at 63 bytes)."""
    return f"renkei_{hashlib.sha256(schema.encode()).hexdigest()[:16]}"


def safe_dsn(dsn: str) -> str:
    """The DSN without its password, for messages."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        return f"{parts.scheme}://{parts.username or ''}@{host}:{parts.port or 5432}{parts.path}"
    except ValueError:
        return "(unparseable dsn)"


_FULL = FullDiskLog("postgresql")


@contextlib.contextmanager
def translate(dsn: str) -> Iterator[None]:
    """Turn driver and socket failures into ``StoreError`` at the store's boundary."""
    try:
        yield
    except asyncpg.exceptions.DiskFullError as exc:  # SQLSTATE 53100
        _FULL.seen(exc)
        raise StoreFull(MESSAGE) from exc
    except asyncpg.PostgresError as exc:
        raise StoreError(f"postgresql: {type(exc).__name__}: {exc}") from exc
    except (OSError, asyncpg.InterfaceError) as exc:
        raise StoreError(f"postgresql: {safe_dsn(dsn)}: {exc}") from exc


async def migrate(conn: asyncpg.Connection, schema: str) -> list[Migration]:
    """Apply pending migrations in one transaction; returns those applied.

    The advisory lock makes replicas that start together take turns: the first applies, the
    others wait for its commit and then find nothing left to do.
    """
    applied: list[Migration] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(schema, "migrate"))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
                           " number integer PRIMARY KEY, name text NOT NULL,"
                           " applied_at timestamptz NOT NULL DEFAULT now())")
        done = {r[0] for r in await conn.fetch(
            f"SELECT number FROM {schema}.schema_migrations")}
        for migration in migrations_for("postgres"):
            if migration.number in done:
                continue
            await conn.execute(migration.sql)  # simple protocol: several statements at once
            await conn.execute(f"INSERT INTO {schema}.schema_migrations (number, name)"
                               " VALUES ($1, $2)", migration.number, migration.name)
            applied.append(migration)
    return applied


class ChangeListener:
    """One LISTEN connection that calls back with the payload of each notification.

    If the connection is lost it reconnects with backoff and then calls back with every topic,
    since notifications sent meanwhile are gone; streams re-read the feed from their cursor
    anyway, so a spurious wake-up costs one query.
    """

    TOPICS = ("entities", "agreements")

    def __init__(self, connect: Callable[[], Any], channel: str) -> None:
        self._connect = connect
        self._channel = channel
        self._callbacks: list[Callable[[str], None]] = []
        self._conn: asyncpg.Connection | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._closed = False

    def add(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    async def start(self) -> None:
        conn = await self._connect()
        await conn.add_listener(self._channel, self._on_notify)
        conn.add_termination_listener(self._on_lost)
        self._conn = conn

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._fire((payload,))

    def _fire(self, topics: tuple[str, ...]) -> None:
        for topic in topics:
            for callback in self._callbacks:
                try:
                    callback(topic)
                except Exception:  # one bad callback must not silence the others
                    log.exception("change callback failed")

    def _on_lost(self, _conn: Any) -> None:
        self._conn = None
        if not self._closed and (self._reconnect is None or self._reconnect.done()):
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        delay = 0.2
        while not self._closed:
            try:
                await self.start()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("LISTEN connection lost, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._fire(self.TOPICS)
            return

    async def close(self) -> None:
        self._closed = True
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


async def _no_session_state(_conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's reset query (one more round trip per call): the store
    leaves no session state behind (no SET, no LISTEN, advisory locks only per transaction),
    and asyncpg still rolls back a transaction left open before calling this."""


class Connections:
    """The connections of one node schema: a pool for statements, one more for LISTEN."""

    def __init__(self, dsn: str, schema: str, min_size: int, max_size: int) -> None:
        self.dsn = dsn
        self.schema = schema
        self._sizes = (min_size, max_size)
        self._pool: asyncpg.Pool | None = None
        self._listener: ChangeListener | None = None

    def _settings(self, role: str) -> dict[str, str]:
        # application_name shows in pg_stat_activity which node (schema) and which use.
        return {"search_path": self.schema, "application_name": f"renkei-{role}:{self.schema}"}

    def _connect(self, role: str) -> Awaitable[asyncpg.Connection]:
        connecting: Awaitable[asyncpg.Connection] = asyncpg.connect(
            self.dsn, timeout=CONNECT_TIMEOUT, server_settings=self._settings(role))
        return connecting

    async def open(self) -> list[Migration]:
        """Migrate, then open the pool; returns the migrations applied."""
        with translate(self.dsn):
            conn = await self._connect("migrate")
            try:
                applied = await migrate(conn, self.schema)
            finally:
                await conn.close()
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=self._sizes[0], max_size=self._sizes[1],
                timeout=CONNECT_TIMEOUT, server_settings=self._settings("pool"),
                reset=_no_session_state)
        return applied

    async def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _open_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("postgresql: the store is not open")
        return self._pool

    async def tx(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``fn`` in one transaction, again if the server aborted it to break a deadlock."""
        pool = self._open_pool()
        for attempt in range(4):
            try:
                with translate(self.dsn):
                    async with pool.acquire() as conn, conn.transaction():
                        return await fn(conn)
            except StoreError as exc:
                if attempt == 3 or not isinstance(exc.__cause__, RETRYABLE):
                    raise
                await asyncio.sleep(0.01 * 2 ** attempt)
        raise AssertionError("unreachable")

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        with translate(self.dsn):
            return list(await self._open_pool().fetch(sql, *args))

    async def val(self, sql: str, *args: Any) -> Any:
        with translate(self.dsn):
            return await self._open_pool().fetchval(sql, *args)

    async def exec(self, sql: str, *args: Any) -> str:
        with translate(self.dsn):
            return str(await self._open_pool().execute(sql, *args))

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call ``callback(payload)`` for each notification on ``channel``."""
        if self._listener is None:
            self._listener = ChangeListener(lambda: self._connect("listen"), channel)
            self._listener.add(callback)
            with translate(self.dsn):
                await self._listener.start()
        else:
            self._listener.add(callback)
