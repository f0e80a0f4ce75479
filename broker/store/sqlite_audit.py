"""SQLite statements of the audit log: chained appends with their Merkle tree nodes, signed
tree heads, cosigned checkpoints, and this node's record as a witness of other logs.

Each function runs on the store's one writer connection (``SqliteStore._run``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .audit_tree import catch_up_from, frontier_addresses, new_nodes
from .base import AuditBuilder, AuditRow, NodeAddress

GENESIS = "0" * 64


def append(db: sqlite3.Connection, build: AuditBuilder) -> AuditRow:
    # BEGIN IMMEDIATE would be stronger across processes; one writer thread suffices here,
    # and several processes on one file are not a supported SQLite deployment.
    head = db.execute("SELECT seq, entry_hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    entry_hash, body = build(seq, prev)
    db.execute("INSERT INTO audit (seq, prev_hash, entry_hash, body) VALUES (?,?,?,?)",
               (seq, prev, entry_hash, body))
    size, root = grow_tree(db, seq, entry_hash)
    return AuditRow(seq, prev, entry_hash, body, root if size == seq else None)


def grow_tree(db: sqlite3.Connection, upto: int | None = None,
              newest: str | None = None) -> tuple[int, bytes | None]:
    """Extend the stored tree with the entries after it up to seq ``upto`` (default: the
    head; ``newest`` is the hash of entry ``upto`` when the caller just wrote it); returns
    the tree size and, if it grew, its root. The tree grows from its own stored frontier, so a
    log begun before the tree (entries 1..n) catches up here once."""
    size = tree_size(db)
    frontier = nodes(db, frontier_addresses(size))
    if catch_up_from(size, frontier) != size:
        size, frontier = 0, {}
    if upto is None:
        head = db.execute("SELECT MAX(seq) FROM audit").fetchone()[0]
        upto = int(head) if head is not None else 0
    if newest is not None and size == upto - 1:
        behind = [newest]  # the usual append: the tree was complete up to the entry before
    else:
        behind = [r[0] for r in db.execute(
            "SELECT entry_hash FROM audit WHERE seq > ? AND seq <= ? ORDER BY seq",
            (size, upto))]
    if not behind:
        return size, None
    created, root = new_nodes(size, frontier, behind)
    db.executemany("INSERT OR REPLACE INTO audit_tree (level, idx, hash) VALUES (?, ?, ?)",
                   created)
    return size + len(behind), root


def tree_size(db: sqlite3.Connection) -> int:
    top = db.execute("SELECT MAX(idx) FROM audit_tree WHERE level = 0").fetchone()[0]
    return int(top) + 1 if top is not None else 0


def nodes(db: sqlite3.Connection, addresses: Sequence[NodeAddress]
          ) -> dict[NodeAddress, bytes]:
    if not addresses:
        return {}
    pairs = ",".join("(?, ?)" for _ in addresses)
    rows = db.execute(f"SELECT level, idx, hash FROM audit_tree WHERE (level, idx) IN"
                      f" (VALUES {pairs})", [x for a in addresses for x in a]).fetchall()
    return {(r[0], r[1]): bytes(r[2]) for r in rows}


def add_head(db: sqlite3.Connection, size: int, note: str, now: float) -> bool:
    cur = db.execute("INSERT OR IGNORE INTO audit_heads (size, note, created_at) VALUES (?,?,?)",
                     (size, note, now))
    return cur.rowcount == 1


def add_cosigned(db: sqlite3.Connection, size: int, witness: str, note: str,
                 now: float) -> None:
    db.execute("INSERT OR REPLACE INTO audit_cosigned (size, witness, note, created_at)"
               " VALUES (?, ?, ?, ?)", (size, witness, note, now))


def witness_advance(db: sqlite3.Connection, origin: str, known: tuple[int, bytes] | None,
                    size: int, root: bytes, note: str, now: float) -> bool:
    row = db.execute("SELECT size, root FROM witness_heads WHERE origin = ?",
                     (origin,)).fetchone()
    current = (row[0], bytes(row[1])) if row else None
    if current != known:
        return False
    db.execute("INSERT OR REPLACE INTO witness_heads (origin, size, root, updated_at)"
               " VALUES (?, ?, ?, ?)", (origin, size, root, now))
    db.execute("INSERT OR REPLACE INTO witness_cosigned (origin, size, note, created_at)"
               " VALUES (?, ?, ?, ?)", (origin, size, note, now))
    return True
