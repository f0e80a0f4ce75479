"""The differencing guard's memory on each backend: released aggregate groups per consumer.

One release is one transaction: read the consumer's unexpired groups of the sizes that could
be near the new ones, let the caller's ``check`` refuse (an exception: nothing is written),
refuse when the consumer would hold more than ``max_groups``, else write the new groups and
forget the consumer's expired ones. On PostgreSQL an advisory lock per consumer serializes
replicas, so two of them cannot each release one half of a differencing pair; on SQLite the
file's write lock, taken by the first statement, does the same.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

import asyncpg

from ._pg import lock_key
from .base import Release

HASH_BYTES = 8
Check = Callable[[Sequence[bytes]], None]


def release_sqlite(db: sqlite3.Connection, r: Release, check: Check) -> bool:
    """The release on SQLite (``db`` in a transaction); False when the memory is full."""
    # The DELETE comes first: it takes the file's write lock, so a second process releasing
    # for the same node waits (busy_timeout) instead of reading what this one will change.
    db.execute("DELETE FROM released_groups WHERE caller = ? AND expires_at < ?",
               (r.caller, r.now))
    check([row[0] for row in db.execute(
        "SELECT members FROM released_groups WHERE caller = ? AND size BETWEEN ? AND ?",
        (r.caller, r.min_size, r.max_size))])
    held = db.execute("SELECT count(*) FROM released_groups WHERE caller = ?",
                      (r.caller,)).fetchone()[0]
    if held + len(r.groups) > r.max_groups:
        return False
    db.executemany(
        "INSERT INTO released_groups (caller, agreement_id, size, members, released_at,"
        " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(r.caller, r.agreement_id, len(g) // HASH_BYTES, g, r.now, r.expires_at)
         for g in r.groups])
    return True


async def release_postgres(conn: asyncpg.Connection, schema: str, r: Release,
                           check: Check) -> bool:
    """The release on PostgreSQL (``conn`` in a transaction); False when the memory is full."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)",
                       lock_key(schema, "released_groups:" + r.caller))
    await conn.execute("DELETE FROM released_groups WHERE caller = $1 AND expires_at < $2",
                       r.caller, r.now)
    rows = await conn.fetch("SELECT members FROM released_groups WHERE caller = $1"
                            " AND size BETWEEN $2 AND $3", r.caller, r.min_size, r.max_size)
    check([bytes(row[0]) for row in rows])
    held = await conn.fetchval("SELECT count(*) FROM released_groups WHERE caller = $1",
                               r.caller)
    if int(held) + len(r.groups) > r.max_groups:
        return False
    await conn.executemany(
        "INSERT INTO released_groups (caller, agreement_id, size, members, released_at,"
        " expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        [(r.caller, r.agreement_id, len(g) // HASH_BYTES, g, r.now, r.expires_at)
         for g in r.groups])
    return True
