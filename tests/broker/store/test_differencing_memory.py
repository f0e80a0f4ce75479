"""The differencing guard's memory in the node's store (issue 12, differencing of aggregates):
it holds across a restart (SQLite file reopened), is shared by two replicas on one
PostgreSQL schema (what replica A released, replica B refuses to complement), covers a
consumer's overlapping agreements, and cannot be flushed by harmless traffic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from broker.provider.limits import StoreGroupMemory
from broker.store.base import Store
from broker.store.postgres import PostgresStore
from broker.store.sqlite import SqliteStore
from trust.differencing import DifferencingGuard
from trust.errors import PolicyDenied

SHELTERS = [f"urn:ngsi-ld:EvacuationSite:jp-172022:{i:03d}" for i in range(30)]
CONSUMER, K, DAY = "jp-gov-cao", 3, 86400.0

Opener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens another store on the same data each call (a restart, or another replica)."""
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "node.db")
    dsn, schema = request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_schema")
    return lambda: PostgresStore(dsn, schema=schema)


@pytest.fixture
async def stores() -> AsyncIterator[list[Store]]:
    opened: list[Store] = []
    yield opened
    for store in opened:
        await store.close()


async def guard_on(opener: Opener, stores: list[Store]) -> DifferencingGuard:
    store = opener()
    await store.open()
    stores.append(store)
    return DifferencingGuard(StoreGroupMemory(store))


async def release(guard: DifferencingGuard, members: list[str], agreement: str = "agr-1",
                  now: float = 1000.0) -> str:
    try:
        await guard.check(CONSUMER, agreement, [members], K, now, 30 * DAY)
    except PolicyDenied as err:
        return err.code
    return ""


async def test_the_memory_holds_across_a_restart(open_store: Opener,
                                                 stores: list[Store]) -> None:
    first = await guard_on(open_store, stores)
    assert await release(first, SHELTERS) == ""
    await stores.pop().close()
    after_restart = await guard_on(open_store, stores)
    assert await release(after_restart, SHELTERS[1:]) == "differencing_suspected"


async def test_two_replicas_share_the_memory(open_store: Opener, stores: list[Store]) -> None:
    replica_a = await guard_on(open_store, stores)
    replica_b = await guard_on(open_store, stores)
    assert await release(replica_a, SHELTERS) == ""
    assert await release(replica_b, SHELTERS[1:]) == "differencing_suspected"
    # Asked of both at once, one pair member is released and the other refused.
    outcomes = await asyncio.gather(release(replica_a, SHELTERS[10:25]),
                                    release(replica_b, SHELTERS[10:26]))
    assert sorted(outcomes) == ["", "differencing_suspected"]


async def test_overlapping_agreements_and_a_flush_do_not_reset_it(
        open_store: Opener, stores: list[Store]) -> None:
    guard = await guard_on(open_store, stores)
    assert await release(guard, SHELTERS, agreement="agr-north") == ""
    for i in range(60):  # harmless group-by answers, far more than the old 256/52 budget
        assert await release(guard, [f"urn:ngsi-ld:Other:{i}:{j}" for j in range(4)]) == ""
    # Another agreement of the same consumer whose area leaves out one shelter.
    assert await release(guard, SHELTERS[:-1], agreement="agr-south") == \
        "differencing_suspected"
    # Once the retention has passed, the group is forgotten.
    assert await release(guard, SHELTERS[:-1], now=1000 + 31 * DAY) == ""
