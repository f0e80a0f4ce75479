"""The node's audit log against its own operator: each tampering class, on SQLite and
PostgreSQL, through the node's ``AuditLog`` and raw SQL on its store (what an operator with
database access can do)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, cast

import orjson
import pytest

from broker.service.audit_log import AuditLog
from broker.store.base import Store
from broker.store.postgres import PostgresStore
from broker.store.sqlite import SqliteStore
from trust.audit import AuditEntry, AuditRecord, chain_entry
from trust.clock import ManualClock
from trust.directory import Directory
from trust.keys import NodeKey

NODE = "jp-172022"
EVERY = 4


class _NoDirectory:
    """A node that has not fetched a directory yet: only its own key signs its log."""

    def member(self, member_id: str) -> None:
        return None


def record(n: int, caller: str = "jp-gov-bousai") -> AuditRecord:
    return AuditRecord(time=1000.0 + n, caller=caller, agreement_id="agr-1", operation="query",
                       request_digest=f"{n:064x}", decision="allow", reason="allowed",
                       result_count=n)


@pytest.fixture
def store(store_on_each_backend: Store) -> Store:
    """SQLite and PostgreSQL (tests/conftest.py)."""
    return store_on_each_backend


def audit_log(store: Store, key: NodeKey) -> AuditLog:
    directory = cast(Directory, _NoDirectory())
    return AuditLog(NODE, key, store, ManualClock(2000.0), lambda: directory,
                    checkpoint_every=EVERY)


async def history(store: Store, n: int = 12) -> tuple[AuditLog, NodeKey]:
    key = NodeKey.generate("EdDSA")
    log = audit_log(store, key)
    for i in range(1, n + 1):
        await log.append(record(i))
    return log, key


async def sql(store: Store, statement: str, rows: Sequence[tuple[Any, ...]] = ((),)) -> None:
    """Run one statement (``?`` placeholders) on the store's own database, as its operator."""
    if isinstance(store, SqliteStore):
        def run(db: sqlite3.Connection) -> None:
            db.executemany(statement, rows)
        await store._run(run)
    else:
        assert isinstance(store, PostgresStore)
        n = 0

        def number(_: Any) -> str:
            nonlocal n
            n += 1
            return f"${n}"
        import re
        pg = re.sub(r"\?", number, statement)
        for row in rows:
            await store._db.exec(pg, *row)


async def rewrite_from(store: Store, log: AuditLog, first: int,
                       change: Callable[[AuditRecord], AuditRecord]) -> None:
    """Rewrite entries ``first``.. consistently: every hash recomputed, the chain intact."""
    entries = await log.entries()
    prev = entries[first - 2].entry_hash if first > 1 else "0" * 64
    rows = []
    for e in entries[first - 1:]:
        new = chain_entry(change(e.record) if e.seq == first else e.record, e.seq, prev)
        rows.append((new.prev_hash, new.entry_hash, orjson.dumps(new.to_document()), e.seq))
        prev = new.entry_hash
    await sql(store, "UPDATE audit SET prev_hash = ?, entry_hash = ?, body = ? WHERE seq = ?",
              rows)


def hide(r: AuditRecord) -> AuditRecord:
    return AuditRecord(r.time, r.caller, r.agreement_id, r.operation, r.request_digest,
                       "deny", "no_agreement", 0, r.details)


async def test_an_untouched_log_verifies_with_a_checkpoint_every_n_entries(store: Store) -> None:
    log, _ = await history(store)
    report = await log.verify()
    assert report.ok, report.message
    assert report.size == 12 and report.checkpoints_verified == 3  # at 4, 8 and 12
    assert [size for size, _ in await store.tree_heads()] == [4, 8, 12]


async def test_a_naive_edit_is_named_exactly(store: Store) -> None:
    log, _ = await history(store)
    entries = await log.entries()
    doc = entries[6].to_document()
    doc["result_count"] = 0
    await sql(store, "UPDATE audit SET body = ? WHERE seq = 7", [(orjson.dumps(doc),)])
    report = await log.verify()
    assert not report.ok and report.problem == "edited" and report.bad_seq == 7


async def test_all_checkpoints_deleted_and_the_chain_rewritten_from_entry_10(
        store: Store) -> None:
    log, _ = await history(store)
    await rewrite_from(store, log, 10, hide)
    await sql(store, "DELETE FROM audit_heads")
    report = await log.verify()
    assert not report.ok and report.problem == "checkpoint_gap"
    assert report.bad_seq == 1  # nothing vouches for any entry of the 12


async def test_one_old_checkpoint_kept_and_the_chain_rewritten_after_it(store: Store) -> None:
    log, _ = await history(store)
    await rewrite_from(store, log, 6, hide)
    await sql(store, "DELETE FROM audit_heads WHERE size > 4")
    report = await log.verify()
    assert not report.ok and report.problem == "checkpoint_gap"
    assert report.bad_seq == 5


async def test_a_rewrite_before_a_checkpoint_names_the_entries_not_the_checkpoint(
        store: Store) -> None:
    log, _ = await history(store)
    await rewrite_from(store, log, 6, hide)
    report = await log.verify()
    assert not report.ok and report.problem == "rewritten"
    first = report.findings[0]
    assert (first.first_seq, first.last_seq) == (5, 8)  # between the checkpoints 4 and 8
    assert "one of entries 5..8" in first.message


async def test_a_truncated_tail_under_a_checkpoint_is_detected(store: Store) -> None:
    log, _ = await history(store)
    await sql(store, "DELETE FROM audit WHERE seq > 10")
    report = await log.verify()
    assert not report.ok and report.problem == "truncated" and report.bad_seq == 11


async def test_a_reorder_is_named(store: Store) -> None:
    log, _ = await history(store)
    await sql(store, "UPDATE audit SET seq = -1 WHERE seq = 6")
    await sql(store, "UPDATE audit SET seq = 6 WHERE seq = 7")
    await sql(store, "UPDATE audit SET seq = 7 WHERE seq = -1")
    report = await log.verify()
    assert not report.ok and report.bad_seq in (6, 7)
    assert report.problem in ("reordered", "edited")


async def test_receipts_name_the_tree_size_and_root_after_their_entry(store: Store) -> None:
    log, key = await history(store, 5)
    receipt = await log.provide("jp-gov-bousai", "agr-1", "query", "d" * 64, [b"{}"])
    from trust.jws import parse_compact
    payload = orjson.loads(parse_compact(receipt, max_bytes=4096, algorithms=("EdDSA",))
                           .payload)
    assert payload["log_size"] == 6
    assert payload["log_root"] == (await log.root(6)).hex()
    report = await log.verify()
    assert report.ok and report.root.hex() == payload["log_root"]


def test_entries_are_read_as_stored() -> None:
    entry = chain_entry(record(1), 1, "0" * 64)
    assert AuditEntry.from_document(entry.to_document()) == entry
