"""The SQLite store's console tables (operators and their sessions), mixed into
``SqliteStore``, which provides ``_run`` (one transaction on the writer thread)."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import AlreadyExists
from .base import ConsoleSession, OperatorRow

_OPERATOR_COLS = "name, role, password_hash, created_at"
_SESSION_COLS = "token_hash, operator, csrf, created_at, expires_at"


class SqliteConsole:
    """The ``Store`` methods of the operator console."""

    _run: Any

    async def add_operator(self, row: OperatorRow) -> None:
        def run(db: sqlite3.Connection) -> None:
            try:
                db.execute(f"INSERT INTO console_operators ({_OPERATOR_COLS}) VALUES (?, ?, ?, ?)",
                           (row.name, row.role, row.password_hash, row.created_at))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"operator {row.name!r} already exists") from None

        await self._run(run)

    async def get_operator(self, name: str) -> OperatorRow | None:
        rows = await self._run(lambda db: db.execute(
            f"SELECT {_OPERATOR_COLS} FROM console_operators WHERE name = ?", (name,)).fetchall())
        return OperatorRow(*rows[0]) if rows else None

    async def list_operators(self) -> list[OperatorRow]:
        rows = await self._run(lambda db: db.execute(
            f"SELECT {_OPERATOR_COLS} FROM console_operators ORDER BY name").fetchall())
        return [OperatorRow(*r) for r in rows]

    async def delete_operator(self, name: str) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM console_sessions WHERE operator = ?", (name,))
            return bool(db.execute("DELETE FROM console_operators WHERE name = ?",
                                   (name,)).rowcount)

        return bool(await self._run(run))

    async def add_session(self, session: ConsoleSession) -> None:
        def run(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM console_sessions WHERE expires_at <= ?",
                       (session.created_at,))
            db.execute(f"INSERT INTO console_sessions ({_SESSION_COLS}) VALUES (?, ?, ?, ?, ?)",
                       (session.token_hash, session.operator, session.csrf, session.created_at,
                        session.expires_at))

        await self._run(run)

    async def get_session(self, token_hash: str, now: float) -> ConsoleSession | None:
        rows = await self._run(lambda db: db.execute(
            f"SELECT {_SESSION_COLS} FROM console_sessions WHERE token_hash = ?"
            " AND expires_at > ?", (token_hash, now)).fetchall())
        return ConsoleSession(*rows[0]) if rows else None

    async def delete_session(self, token_hash: str) -> None:
        await self._run(lambda db: db.execute(
            "DELETE FROM console_sessions WHERE token_hash = ?", (token_hash,)))
