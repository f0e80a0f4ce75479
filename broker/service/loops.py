"""A node's background loops, supervised: none of them dies silently.

A loop that raises is logged with its traceback, marked ``failed`` with the error, and
started again after a delay that doubles from 1 s to 60 s (back to 1 s once it has run for a
minute); a loop that returns is marked ``stopped`` and logged, unless it was started as
``finite`` (work that ends, such as the start-up ingest of a node that does not watch its
sources): then it is ``done``. ``report`` is what ``/health`` shows (and ``/metrics`` as
``renkei_loop_up`` and ``renkei_loop_failures_total``); ``healthy`` is false while any loop is
neither running nor done, so that an operator (and a readiness probe) sees a node whose
housekeeping has stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("renkei.loops")
FIRST_DELAY = 1.0
MAX_DELAY = 60.0


@dataclass
class LoopStatus:
    state: str = "running"  # running | failed (restarting after a delay) | stopped | done
    failures: int = 0
    last_error: str = ""
    last_failure_at: float = 0.0


class Loops:
    """Supervises the background loops of one node."""

    def __init__(self, owner: str, *, first_delay: float = FIRST_DELAY,
                 max_delay: float = MAX_DELAY) -> None:
        self._owner = owner
        self._first = first_delay
        self._max = max_delay
        self._status: dict[str, LoopStatus] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, body: Callable[[], Coroutine[Any, Any, None]], *,
              finite: bool = False) -> None:
        """Run ``body()`` as the loop ``name``, restarting it whenever it raises. A ``finite``
        body may return: it is then ``done`` (healthy), not ``stopped``."""
        if name in self._tasks:
            raise ValueError(f"loop {name} is already running")
        self._status[name] = LoopStatus()
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._supervise(name, body, finite), name=f"{self._owner}:{name}")

    async def _supervise(self, name: str, body: Callable[[], Coroutine[Any, Any, None]],
                         finite: bool) -> None:
        status = self._status[name]
        delay = self._first
        while True:
            status.state = "running"
            began = time.monotonic()
            try:
                await body()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                status.state = "failed"
                status.failures += 1
                status.last_error = f"{type(exc).__name__}: {exc}"[:500]
                status.last_failure_at = time.time()
                if time.monotonic() - began > MAX_DELAY:
                    delay = self._first  # it ran fine for a while: a fresh failure
                log.exception("node %s: loop %s failed (%d so far); restarting in %.0fs",
                              self._owner, name, status.failures, delay)
                await asyncio.sleep(delay)
                delay = min(self._max, delay * 2)
                continue
            if finite:
                status.state = "done"
                log.info("node %s: loop %s finished", self._owner, name)
                return
            status.state = "stopped"
            log.error("node %s: loop %s returned; it is no longer running", self._owner, name)
            return

    def report(self) -> dict[str, dict[str, Any]]:
        """name -> {state, failures, lastError}: what ``/health`` shows."""
        return {name: {"state": s.state, "failures": s.failures, "lastError": s.last_error}
                for name, s in sorted(self._status.items())}

    def healthy(self) -> bool:
        """True while every loop runs (or has finished its finite work)."""
        return all(s.state in ("running", "done") for s in self._status.values())

    async def stop(self) -> None:
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
