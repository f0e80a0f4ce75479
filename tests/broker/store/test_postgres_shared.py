"""Two ``PostgresStore`` instances on one schema, as two replicas of a node see it.

Each instance has its own connection pool, so these tests exercise exactly the concurrency
the replicas produce: racing migrations, racing upserts of the same file, audit appends and
change-feed inserts from both sides, shared replay cache and counters, NOTIFY wake-ups.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest

from broker.errors import AlreadyExists
from broker.store import _pg
from broker.store.base import AgreementRow, EntityWrite
from broker.store.migrations import migrations_for
from broker.store.postgres import PostgresStore


def site(n: int, cap: int = 10) -> EntityWrite:
    doc = {"id": f"urn:ngsi-ld:EvacuationSite:jp-1:{n:05d}", "type": "EvacuationSite",
           "capacity": {"type": "Property", "value": cap}}
    raw = orjson.dumps(doc)
    return EntityWrite(doc["id"], doc["type"], raw, hashlib.sha256(raw).hexdigest(),
                       (136.0, 37.0, 136.0, 37.0))


@pytest.fixture
async def pair(pg_dsn: str, pg_schema: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores that open (and so migrate) the same fresh schema at the same time."""
    a, b = PostgresStore(pg_dsn, schema=pg_schema), PostgresStore(pg_dsn, schema=pg_schema)
    await asyncio.gather(a.open(), b.open())
    try:
        yield a, b
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_replicas_starting_together_migrate_once(
        pair: tuple[PostgresStore, PostgresStore], pg_dsn: str, pg_schema: str) -> None:
    a, b = pair
    applied = [m.number for m in a.applied_migrations + b.applied_migrations]
    assert sorted(applied) == [m.number for m in migrations_for("postgres")]
    conn = await asyncpg.connect(pg_dsn)
    try:
        rows = await conn.fetch(f"SELECT number FROM {pg_schema}.schema_migrations")
        assert len(rows) == len(migrations_for("postgres"))
    finally:
        await conn.close()


async def test_the_same_file_through_two_replicas_creates_no_duplicates(
        pair: tuple[PostgresStore, PostgresStore]) -> None:
    writes = [site(i) for i in range(600)]

    async def ingest(store: PostgresStore) -> tuple[int, int]:
        run = await store.start_run("nanao", "sites.csv", now=1.0)
        created = unchanged = 0
        for start in range(0, len(writes), 100):
            counts = await store.commit_batch(run, "nanao", writes[start:start + 100], [],
                                              str(start + 100), read=100, now=2.0)
            created += counts.created
            unchanged += counts.unchanged
        return created, unchanged

    results = await asyncio.gather(*(ingest(s) for s in pair))
    assert sum(c for c, _ in results) == 600
    assert sum(u for _, u in results) == 600
    a, _ = pair
    assert await a.count_entities() == 600
    changes = await a.changes_after(0, limit=10_000)
    assert len(changes) == 600 and {c.kind for c in changes} == {"created"}


async def test_create_races_have_one_winner(pair: tuple[PostgresStore, PostgresStore]) -> None:
    outcomes = await asyncio.gather(*(s.create_entity(site(1), now=1.0) for s in pair),
                                    return_exceptions=True)
    assert sorted(type(o).__name__ for o in outcomes) == ["AlreadyExists", "NoneType"]
    assert all(o is None or isinstance(o, AlreadyExists) for o in outcomes)


async def test_a_cursor_never_becomes_visible_before_a_smaller_one(
        pair: tuple[PostgresStore, PostgresStore], pg_dsn: str, pg_schema: str) -> None:
    """A writer whose cursor is allocated holds the feed lock until it commits."""
    a, b = pair
    slow = await asyncpg.connect(pg_dsn, server_settings={"search_path": pg_schema})
    try:
        tx = slow.transaction()
        await tx.start()
        await slow.execute("SELECT pg_advisory_xact_lock($1)", _pg.lock_key(pg_schema, "changes"))
        early = await slow.fetchval("INSERT INTO changes (entity_id, entity_type, kind,"
                                    " content_hash, at) VALUES ('urn:x', 'T', 'created', 'h', 0)"
                                    " RETURNING cursor")
        later = asyncio.create_task(b.upsert_entities([site(1)], now=1.0))
        await asyncio.sleep(0.3)
        assert not later.done(), "a second writer must wait for the first cursor to commit"
        assert await a.changes_after(0) == []  # nothing visible yet: no gap to skip over
        await tx.commit()
        await later
        assert [c.cursor for c in await a.changes_after(0)][:1] == [early]
        assert (await a.changes_after(0))[1].cursor > early
    finally:
        await slow.close()


async def test_a_reader_following_concurrent_writers_misses_nothing(
        pair: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = pair
    done = asyncio.Event()
    seen: list[int] = []

    async def follow() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            for change in await a.changes_after(cursor, limit=1000):
                seen.append(change.cursor)
                cursor = change.cursor
            if finished:
                return
            await asyncio.sleep(0)

    async def write(store: PostgresStore, offset: int) -> None:
        for i in range(40):
            await store.upsert_entities([site(offset + 2 * i), site(offset + 2 * i + 1)], now=1.0)

    reader = asyncio.create_task(follow())
    await asyncio.gather(*(write(s, k * 1000) for k, s in enumerate(pair * 3)))
    done.set()
    await reader
    everything = [c.cursor for c in await b.changes_after(0, limit=10_000)]
    assert len(everything) == 480
    assert seen == everything  # every cursor, once, in order


async def test_audit_appends_from_two_replicas_form_one_chain(
        pair: tuple[PostgresStore, PostgresStore]) -> None:
    def build(seq: int, prev: str) -> tuple[str, bytes]:
        body = orjson.dumps({"seq": seq, "prev": prev})
        return hashlib.sha256(body).hexdigest(), body

    async def append(store: PostgresStore) -> None:
        for _ in range(30):
            await store.append_audit(build)

    await asyncio.gather(*(append(s) for s in pair * 2))
    rows = await pair[0].audit_rows()
    assert [r.seq for r in rows] == list(range(1, 121))
    assert all(r.prev_hash == p.entry_hash for p, r in zip(rows, rows[1:], strict=False))


async def test_replay_cache_and_counters_are_shared(
        pair: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = pair
    assert await a.remember_jti("j1", "jp-2", "peer-a", expires_at=100.0, now=1.0)
    assert not await b.remember_jti("j1", "jp-2", "peer-b", expires_at=100.0, now=2.0)
    assert await b.remember_jti("j1", "jp-2", "peer-a", expires_at=100.0, now=2.0)
    firsts = await asyncio.gather(*(s.remember_jti("j2", "jp-2", f"p{i}", 100.0, 1.0)
                                    for i, s in enumerate(pair * 3)))
    assert sum(firsts) == 1  # one channel wins the jti, the others are replays
    totals = await asyncio.gather(*(s.increment_counter("rpm:x", 7, 1) for s in pair * 20))
    assert sorted(totals) == list(range(1, 41))


async def test_other_replicas_are_told_about_commits(
        pair: tuple[PostgresStore, PostgresStore]) -> None:
    a, b = pair
    heard: asyncio.Queue[str] = asyncio.Queue()
    await b.listen_changes(heard.put_nowait)
    await a.upsert_entities([site(1)], now=1.0)
    assert await asyncio.wait_for(heard.get(), 5) == "entities"
    await a.upsert_entities([site(1)], now=2.0)  # unchanged: nothing committed to the feed
    await a.put_agreement(AgreementRow("agr", "jp-1", "jp-2", b"{}", {}, None, 1.0))
    assert await asyncio.wait_for(heard.get(), 5) == "agreements"
    assert heard.empty()


async def test_a_lost_listen_connection_reconnects_and_wakes_everyone(
        pair: tuple[PostgresStore, PostgresStore], pg_dsn: str, pg_schema: str) -> None:
    a, b = pair
    heard: asyncio.Queue[str] = asyncio.Queue()
    await b.listen_changes(heard.put_nowait)
    admin = await asyncpg.connect(pg_dsn)
    try:  # what a database restart or failover does to the LISTEN session
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1", f"renkei-listen:{pg_schema}")
        assert killed == 1
    finally:
        await admin.close()
    # Notifications sent while it was gone are lost: everyone is woken once on reconnect.
    woken = {await asyncio.wait_for(heard.get(), 10) for _ in range(2)}
    assert woken == {"entities", "agreements"}
    await a.upsert_entities([site(7)], now=1.0)
    assert await asyncio.wait_for(heard.get(), 5) == "entities"
