"""The SQLite store's read side: a read-only connection on its own thread.

The entity reads the NGSI-LD API serves (``get_entity``, ``scan_entities``, ``scan_docs``,
``count_entities``) go to this second, read-only connection (WAL lets it read while the writer
writes; every read sees what was committed before it started). Reads that arrive while its
thread is busy are handed over together, as one batch, when it is free: a thread hand-off costs
more than a page read (wake-ups, GIL hand-over), and under load one hop serves tens of
requests. More reader threads were measured slower: the work left after SQLite returns rows
holds the GIL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StoreError

T = TypeVar("T")


class SqliteReader:
    """A read-only connection on its own thread; reads queued meanwhile go in one hop."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="renkei-sqlite-read")
        self._db: sqlite3.Connection | None = None
        self._queue: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._draining = False

    async def open(self) -> None:
        def connect() -> None:
            db = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True,
                                 check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA busy_timeout=10000")
            self._db = db

        await asyncio.get_running_loop().run_in_executor(self._pool, connect)

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._pool, db.close)
        self._pool.shutdown(wait=True)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((fn, future))
        if not self._draining:
            self._draining = True
            loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await loop.run_in_executor(self._pool, self._execute,
                                                         [fn for fn, _ in batch])
                except BaseException as exc:  # closed executor, cancelled drain
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(StoreError(f"sqlite: read failed: {exc!r}"))
                    raise
                for (_, future), (ok, value) in zip(batch, results, strict=True):
                    if future.done():  # its caller was cancelled meanwhile
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._draining = False
            if self._queue and not loop.is_closed():  # queued while a failing hop ran
                self._draining = True
                loop.create_task(self._drain())

    def _execute(self, fns: list[Callable[[sqlite3.Connection], Any]]) -> list[tuple[bool, Any]]:
        out: list[tuple[bool, Any]] = []
        for fn in fns:
            try:
                if self._db is None:
                    raise StoreError("store is not open")
                out.append((True, fn(self._db)))
            except sqlite3.Error as exc:
                error = StoreError(f"sqlite: {exc}")
                error.__cause__ = exc
                out.append((False, error))
            except Exception as exc:  # handed to its own caller, like _run does
                out.append((False, exc))
        return out
