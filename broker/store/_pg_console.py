"""The PostgreSQL store's console tables (operators and their sessions), mixed into
``PostgresStore``, which provides ``_db`` (``_pg.Connections``)."""

from __future__ import annotations

from typing import Any

import asyncpg

from ..errors import AlreadyExists
from .base import ConsoleSession, OperatorRow

_OPERATOR_COLS = "name, role, password_hash, created_at"
_SESSION_COLS = "token_hash, operator, csrf, created_at, expires_at"


class PostgresConsole:
    """The ``Store`` methods of the operator console."""

    _db: Any

    async def add_operator(self, row: OperatorRow) -> None:
        added = await self._db.val(f"INSERT INTO console_operators ({_OPERATOR_COLS})"
                                   " VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING"
                                   " RETURNING 1", row.name, row.role, row.password_hash,
                                   row.created_at)
        if added is None:
            raise AlreadyExists(f"operator {row.name!r} already exists")

    async def get_operator(self, name: str) -> OperatorRow | None:
        rows = await self._db.fetch(f"SELECT {_OPERATOR_COLS} FROM console_operators"
                                    " WHERE name = $1", name)
        return OperatorRow(*rows[0]) if rows else None

    async def list_operators(self) -> list[OperatorRow]:
        rows = await self._db.fetch(f"SELECT {_OPERATOR_COLS} FROM console_operators"
                                    " ORDER BY name")
        return [OperatorRow(*r) for r in rows]

    async def delete_operator(self, name: str) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            await conn.execute("DELETE FROM console_sessions WHERE operator = $1", name)
            status = await conn.execute("DELETE FROM console_operators WHERE name = $1", name)
            return bool(status != "DELETE 0")

        return bool(await self._db.tx(run))

    async def add_session(self, session: ConsoleSession) -> None:
        async def run(conn: asyncpg.Connection) -> None:
            await conn.execute("DELETE FROM console_sessions WHERE expires_at <= $1",
                               session.created_at)
            await conn.execute(f"INSERT INTO console_sessions ({_SESSION_COLS})"
                               " VALUES ($1, $2, $3, $4, $5)", session.token_hash,
                               session.operator, session.csrf, session.created_at,
                               session.expires_at)

        await self._db.tx(run)

    async def get_session(self, token_hash: str, now: float) -> ConsoleSession | None:
        rows = await self._db.fetch(f"SELECT {_SESSION_COLS} FROM console_sessions"
                                    " WHERE token_hash = $1 AND expires_at > $2",
                                    token_hash, now)
        return ConsoleSession(*rows[0]) if rows else None

    async def delete_session(self, token_hash: str) -> None:
        await self._db.exec("DELETE FROM console_sessions WHERE token_hash = $1", token_hash)
