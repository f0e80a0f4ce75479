"""PostgreSQL statements of the audit log: chained appends with their Merkle tree nodes (under
the audit advisory lock, so replicas keep one linear log and one tree), signed tree heads,
cosigned checkpoints, and this node's record as a witness of other logs (under the witness
lock, so the compare-and-set holds across replicas)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from ._pg import Connections
from .audit_tree import catch_up_from, frontier_addresses, new_nodes
from .base import AuditBuilder, AuditRow, NodeAddress

GENESIS = "0" * 64


async def append(conn: asyncpg.Connection, lock: int, build: AuditBuilder) -> AuditRow:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
    head = await conn.fetchrow("SELECT seq, entry_hash FROM audit ORDER BY seq DESC LIMIT 1")
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    entry_hash, body = build(seq, prev)
    await conn.execute("INSERT INTO audit (seq, prev_hash, entry_hash, body)"
                       " VALUES ($1, $2, $3, $4)", seq, prev, entry_hash, body)
    size, root = await grow_tree(conn, seq, entry_hash)
    return AuditRow(seq, prev, entry_hash, body, root if size == seq else None)


async def grow_tree(conn: asyncpg.Connection, upto: int | None = None,
                    newest: str | None = None) -> tuple[int, bytes | None]:
    """As ``sqlite_audit.grow_tree``; the caller holds the audit lock."""
    top = await conn.fetchval("SELECT MAX(idx) FROM audit_tree WHERE level = 0")
    size = int(top) + 1 if top is not None else 0
    frontier = await nodes(conn, frontier_addresses(size))
    if catch_up_from(size, frontier) != size:
        size, frontier = 0, {}
    if upto is None:
        head = await conn.fetchval("SELECT MAX(seq) FROM audit")
        upto = int(head) if head is not None else 0
    if newest is not None and size == upto - 1:
        behind = [newest]
    else:
        behind = [r[0] for r in await conn.fetch(
            "SELECT entry_hash FROM audit WHERE seq > $1 AND seq <= $2 ORDER BY seq", size,
            upto)]
    if not behind:
        return size, None
    created, root = new_nodes(size, frontier, behind)
    await conn.executemany(
        "INSERT INTO audit_tree (level, idx, hash) VALUES ($1, $2, $3)"
        " ON CONFLICT (level, idx) DO UPDATE SET hash = EXCLUDED.hash", created)
    return size + len(behind), root


async def nodes(conn: asyncpg.Connection | Connections, addresses: Sequence[NodeAddress]
                ) -> dict[NodeAddress, bytes]:
    if not addresses:
        return {}
    rows = await conn.fetch(
        "SELECT t.level, t.idx, t.hash FROM audit_tree t"
        " JOIN unnest($1::bigint[], $2::bigint[]) AS a(level, idx)"
        " ON t.level = a.level AND t.idx = a.idx",
        [a[0] for a in addresses], [a[1] for a in addresses])
    return {(r[0], r[1]): bytes(r[2]) for r in rows}


async def witness_advance(conn: asyncpg.Connection, lock: int, origin: str,
                          known: tuple[int, bytes] | None, size: int, root: bytes, note: str,
                          now: float) -> bool:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
    row = await conn.fetchrow("SELECT size, root FROM witness_heads WHERE origin = $1", origin)
    current = (row[0], bytes(row[1])) if row else None
    if current != known:
        return False
    await conn.execute(
        "INSERT INTO witness_heads (origin, size, root, updated_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (origin) DO UPDATE SET size = EXCLUDED.size, root = EXCLUDED.root,"
        " updated_at = EXCLUDED.updated_at", origin, size, root, now)
    await conn.execute(
        "INSERT INTO witness_cosigned (origin, size, note, created_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (origin, size) DO UPDATE SET note = EXCLUDED.note", origin, size, note,
        now)
    return True
