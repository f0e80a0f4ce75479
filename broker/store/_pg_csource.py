"""The PostgreSQL store's context source registrations (migration 0009), mixed into
``PostgresStore``, which provides ``_db`` (``_pg.Connections``)."""

from __future__ import annotations

from typing import Any

from ..errors import AlreadyExists
from .base import CSourceRow

# doc::text: asyncpg hands jsonb over as text either way; saying so keeps the type plain.
_COLS = "owner, id, doc::text, created_at, modified_at, expires_at"


def _row(r: Any) -> CSourceRow:
    return CSourceRow(r[0], r[1], str(r[2]).encode(), r[3], r[4], r[5])


class PostgresCSources:
    """The ``Store`` methods of context source registrations."""

    _db: Any

    async def add_csource(self, row: CSourceRow) -> None:
        added = await self._db.val(
            "INSERT INTO csource_registrations (owner, id, doc, created_at, modified_at,"
            " expires_at) VALUES ($1, $2, $3::jsonb, $4, $5, $6)"
            " ON CONFLICT (owner, id) DO NOTHING RETURNING 1",
            row.owner, row.id, row.doc.decode(), row.created_at, row.modified_at,
            row.expires_at)
        if added is None:
            raise AlreadyExists(f"registration {row.id[:256]} already exists")

    async def get_csource(self, owner: str, reg_id: str) -> CSourceRow | None:
        rows = await self._db.fetch(f"SELECT {_COLS} FROM csource_registrations"
                                    " WHERE owner = $1 AND id = $2", owner, reg_id)
        return _row(rows[0]) if rows else None

    async def list_csources(self, owner: str) -> list[CSourceRow]:
        rows = await self._db.fetch(f"SELECT {_COLS} FROM csource_registrations"
                                    " WHERE owner = $1 ORDER BY id", owner)
        return [_row(r) for r in rows]

    async def replace_csource(self, row: CSourceRow) -> bool:
        done = await self._db.val(
            "UPDATE csource_registrations SET doc = $3::jsonb, modified_at = $4,"
            " expires_at = $5 WHERE owner = $1 AND id = $2 RETURNING 1",
            row.owner, row.id, row.doc.decode(), row.modified_at, row.expires_at)
        return done is not None

    async def delete_csource(self, owner: str, reg_id: str) -> bool:
        done = await self._db.val("DELETE FROM csource_registrations WHERE owner = $1"
                                  " AND id = $2 RETURNING 1", owner, reg_id)
        return done is not None
