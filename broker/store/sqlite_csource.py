"""The SQLite store's context source registrations (migration 0009), mixed into
``SqliteStore``, which provides ``_run`` (one transaction on the writer thread)."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import AlreadyExists
from .base import CSourceRow

_COLS = "owner, id, doc, created_at, modified_at, expires_at"


def _row(r: Any) -> CSourceRow:
    doc = r[2] if isinstance(r[2], bytes) else str(r[2]).encode()
    return CSourceRow(r[0], r[1], doc, r[3], r[4], r[5])


class SqliteCSources:
    """The ``Store`` methods of context source registrations."""

    _run: Any

    async def add_csource(self, row: CSourceRow) -> None:
        def run(db: sqlite3.Connection) -> None:
            try:
                db.execute(f"INSERT INTO csource_registrations ({_COLS})"
                           " VALUES (?, ?, ?, ?, ?, ?)",
                           (row.owner, row.id, row.doc.decode(), row.created_at,
                            row.modified_at, row.expires_at))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"registration {row.id[:256]} already exists") from None

        await self._run(run)

    async def get_csource(self, owner: str, reg_id: str) -> CSourceRow | None:
        rows = await self._run(lambda db: db.execute(
            f"SELECT {_COLS} FROM csource_registrations WHERE owner = ? AND id = ?",
            (owner, reg_id)).fetchall())
        return _row(rows[0]) if rows else None

    async def list_csources(self, owner: str) -> list[CSourceRow]:
        rows = await self._run(lambda db: db.execute(
            f"SELECT {_COLS} FROM csource_registrations WHERE owner = ? ORDER BY id",
            (owner,)).fetchall())
        return [_row(r) for r in rows]

    async def replace_csource(self, row: CSourceRow) -> bool:
        return bool(await self._run(lambda db: db.execute(
            "UPDATE csource_registrations SET doc = ?, modified_at = ?, expires_at = ?"
            " WHERE owner = ? AND id = ?",
            (row.doc.decode(), row.modified_at, row.expires_at, row.owner, row.id)).rowcount))

    async def delete_csource(self, owner: str, reg_id: str) -> bool:
        return bool(await self._run(lambda db: db.execute(
            "DELETE FROM csource_registrations WHERE owner = ? AND id = ?",
            (owner, reg_id)).rowcount))
