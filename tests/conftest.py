"""Shared fixtures: PostgreSQL availability policy and the path to ../shared."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PG_DSN = os.environ.get("RENKEI_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"renkei: shared data at {SHARED}", f"renkei: PostgreSQL DSN {PG_DSN}"]


def pytest_sessionstart(session: pytest.Session) -> None:
    # The tests check the mapping of real open data read from ../shared (the product never
    # reads it). A laptop without it skips those tests with the reason; CI must not.
    if os.environ.get("CI", "").lower() == "true" and not (SHARED / "realdata").is_dir():
        pytest.exit(f"CI=true but ../shared/realdata is not at {SHARED / 'realdata'}: the "
                    "tests of real open data cannot run", returncode=1)


# -- PostgreSQL ------------------------------------------------------------------------------
# Each test run works in schemas of its own, named after this process and a random tag, and
# drops them at the end (also those a crashed test left behind). Unreachable PostgreSQL fails
# the run when CI=true, and skips the PostgreSQL tests with the reason everywhere else.
T = TypeVar("T")
PG_SCHEMA_PREFIX = f"renkei_test_{os.getpid()}_{secrets.token_hex(3)}"


async def _pg_execute(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _drop_run_schemas() -> None:
    await _pg_execute(f"""DO $$ DECLARE s text; BEGIN
        FOR s IN SELECT nspname FROM pg_namespace
                 WHERE starts_with(nspname, '{PG_SCHEMA_PREFIX}') LOOP
            EXECUTE format('DROP SCHEMA %I CASCADE', s);
        END LOOP; END $$""")


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a private loop in another thread: fixtures may run while pytest-asyncio
    holds this thread's event loop, which ``asyncio.run`` here would disturb."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """The test PostgreSQL DSN, after checking that the server answers."""
    try:
        _run_sync(_pg_execute("SELECT 1"))
    except Exception as exc:  # any failure to connect means "not available" here
        reason = f"PostgreSQL at {PG_DSN} is unreachable ({type(exc).__name__}: {exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true requires it (set RENKEI_TEST_PG_DSN)")
        print(f"\nrenkei: {reason}: skipping PostgreSQL tests")
        pytest.skip(reason)
    yield PG_DSN
    _run_sync(_drop_run_schemas())


_schema_counter = itertools.count(1)


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A fresh schema name for one test; the schema (if created) is dropped afterwards."""
    name = f"{PG_SCHEMA_PREFIX}_{next(_schema_counter)}"
    yield name
    _run_sync(_pg_execute(f"DROP SCHEMA IF EXISTS {name} CASCADE"))


# -- stores ----------------------------------------------------------------------------------
# One open store per test, shared by every module that needs one (a module that seeds it
# overrides ``store`` with a fixture that takes this one).

@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Any]:
    """An open SQLite store in the test's directory."""
    from broker.store.sqlite import SqliteStore

    s = SqliteStore(tmp_path / "node.db")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def store_on_each_backend(request: pytest.FixtureRequest, tmp_path: Path
                                ) -> AsyncIterator[Any]:
    """An open store, once on SQLite and once on PostgreSQL (a schema of its own)."""
    from broker.store.postgres import PostgresStore
    from broker.store.sqlite import SqliteStore

    s: Any
    if request.param == "postgres":
        s = PostgresStore(request.getfixturevalue("pg_dsn"),
                          schema=request.getfixturevalue("pg_schema"))
    else:
        s = SqliteStore(tmp_path / "node.db")
    await s.open()
    try:
        yield s
    finally:
        await s.close()
