"""A full disk under each store: writes raise ``StoreFull`` (not a generic store error), reads
go on, an ingest pauses and resumes, and writing works again once space is freed.

Each test makes its own small tmpfs (and fails, not skips, when it cannot mount one): SQLite
keeps its file there; PostgreSQL keeps the node's schema in a tablespace there.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest

from broker.errors import StoreFull
from broker.ingest import Ingestor
from broker.store.base import EntityFilter, EntityWrite, Store
from broker.store.postgres import PostgresStore
from broker.store.sqlite import SqliteStore
from mappings.loader import bundled_sample
from trust.clock import SystemClock

DISK_MIB = 12
BALLAST_MIB = 6
# Copies of the 112-row Nanao file the ingest reads: 336 entities, ~2.3 MiB of SQLite store
# (file + WAL) with the entity history on, so they fit in the space freed.
COPIES = 3


def entity(n: int) -> EntityWrite:
    doc = {"id": f"urn:ngsi-ld:EvacuationSite:jp-172022:{n:06d}", "type": "EvacuationSite",
           "description": {"type": "Property", "value": secrets.token_hex(400)}}
    raw = orjson.dumps(doc)
    return EntityWrite(doc["id"], doc["type"], raw, hashlib.sha256(raw).hexdigest(), None)


@pytest.fixture
def disk() -> Iterator[Path]:
    # Under /tmp itself, so that the postgres user can reach it (pytest's tmp_path is 0700).
    mount = Path(f"/tmp/renkei-full-{os.getpid()}-{secrets.token_hex(3)}")
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m,mode=0755",
                           "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        mount.rmdir()
        pytest.fail(f"cannot mount a {DISK_MIB} MiB tmpfs (needs root or CAP_SYS_ADMIN): "
                    f"{done.stderr.strip()}")
    try:
        (mount / "ballast").write_bytes(b"\0" * (BALLAST_MIB << 20))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
        mount.rmdir()


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, disk: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        s: Store = SqliteStore(disk / "node.db")
        await s.open()
        try:
            yield s
        finally:
            await s.close()
        return
    import asyncpg

    dsn, schema = request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_schema")
    space = f"{schema}_disk"
    data = disk / "pg"
    data.mkdir()
    shutil.chown(data, "postgres", "postgres")
    s = PostgresStore(dsn, schema=schema)
    await s.open()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE TABLESPACE {space} LOCATION '{data}'")
        relations = await conn.fetch(
            "SELECT c.relname, c.relkind::text AS relkind FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'i')",
            schema)
        for rel in relations:
            kind = "TABLE" if rel["relkind"] == "r" else "INDEX"
            await conn.execute(f'ALTER {kind} {schema}."{rel["relname"]}" SET TABLESPACE '
                               f"{space}")
        yield s
    finally:
        await s.close()
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.execute(f"DROP TABLESPACE IF EXISTS {space}")
        await conn.close()


async def fill(store: Store) -> int:
    """Write until the disk is full; returns how many entities were stored."""
    n = 0
    for _ in range(400):  # 40 MB: far more than the disk holds
        try:
            await store.upsert_entities([entity(n + i) for i in range(100)], 1.0)
        except StoreFull:
            return n
        n += 100
    raise AssertionError("the disk never filled up")


async def test_writes_are_refused_as_store_full_reads_go_on_and_resume_after_freeing(
        store: Store, disk: Path) -> None:
    stored = await fill(store)
    assert stored > 0
    with pytest.raises(StoreFull) as refused:
        await store.upsert_entities([entity(10**5)], 2.0)
    assert "disk" in str(refused.value) and "full" in str(refused.value)
    # Reads are served from what was committed.
    assert await store.count_entities(["EvacuationSite"]) == stored
    assert await store.get_entity(entity(0).id) is not None
    ids = [e.id async for e in store.scan_entities(EntityFilter(types=("EvacuationSite",)))]
    assert len(ids) == stored

    (disk / "ballast").unlink()
    await store.upsert_entities([entity(10**5)], 3.0)
    assert await store.count_entities(["EvacuationSite"]) == stored + 1


async def test_an_ingest_pauses_on_a_full_disk_and_finishes_once_space_is_freed(
        store: Store, disk: Path, tmp_path: Path) -> None:
    sample = bundled_sample("nanao_evacuation_sites")
    with sample.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames or ()), list(reader)
    big = tmp_path / "sites.csv"
    with big.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        for i in range(COPIES):
            for row in rows:
                writer.writerow({**row, "ID": f"{row['ID']}-{i:05d}"})
    await fill(store)  # no room left even for the first batch
    ingestor = Ingestor(store, SystemClock(), batch_size=500, pause_seconds=0.2)
    run = asyncio.create_task(ingestor.ingest("sites", "bundled:nanao_evacuation_sites", big))
    for _ in range(300):
        await asyncio.sleep(0.05)
        if ingestor.paused:
            break
    assert ingestor.paused == {"sites"} and not run.done()
    (disk / "ballast").unlink()
    report = await asyncio.wait_for(run, 120)
    assert report.read == COPIES * len(rows) == report.mapped + report.quarantined
    assert not ingestor.paused


def test_a_peer_is_told_unavailable_store_full_not_internal() -> None:
    """A federation call that hits the full disk (its audit entry cannot be written) ends as
    UNAVAILABLE, which callers back off from and retry, with the reason and the message."""
    import grpc

    from broker.federation.status import status_for
    from broker.store.full_disk import MESSAGE

    assert status_for(StoreFull(MESSAGE)) == (grpc.StatusCode.UNAVAILABLE, "store_full", MESSAGE)
