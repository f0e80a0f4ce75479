"""Supervised loops: one that raises is logged, reported and restarted; none dies silently."""

from __future__ import annotations

import asyncio
import logging

import pytest

from broker.service.loops import Loops


async def test_a_raising_loop_is_reported_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    loops = Loops("jp-172022", first_delay=0.01, max_delay=0.02)
    runs = 0
    ready = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise OSError(28, "No space left on device")
        ready.set()
        await asyncio.Event().wait()  # then runs for good

    loops.start("housekeeping", flaky)
    try:
        await asyncio.wait_for(ready.wait(), 5)
        report = loops.report()["housekeeping"]
        assert report["state"] == "running" and report["failures"] == 2
        assert "No space left on device" in report["lastError"]
        assert loops.healthy()
        assert sum("loop housekeeping failed" in r.getMessage() for r in caplog.records
                   if r.levelno == logging.ERROR) == 2
    finally:
        await loops.stop()


async def test_a_loop_that_returns_or_keeps_failing_makes_the_node_unhealthy() -> None:
    loops = Loops("jp-172022", first_delay=30.0)

    async def returns() -> None:
        return None

    async def fails() -> None:
        raise RuntimeError("store gone")

    loops.start("index", returns)
    loops.start("housekeeping", fails)
    try:
        for _ in range(100):
            await asyncio.sleep(0.01)
            report = loops.report()
            if report["index"]["state"] == "stopped" and report["housekeeping"]["failures"]:
                break
        assert report["index"]["state"] == "stopped"
        assert report["housekeeping"]["state"] == "failed"  # waiting 30 s to try again
        assert not loops.healthy()
    finally:
        await loops.stop()


async def test_a_finite_loop_that_returns_is_done_and_healthy() -> None:
    loops = Loops("jp-172022", first_delay=30.0)
    finished = asyncio.Event()

    async def ingest_once() -> None:
        finished.set()

    loops.start("sources", ingest_once, finite=True)
    try:
        await asyncio.wait_for(finished.wait(), 5)
        for _ in range(100):
            if loops.report()["sources"]["state"] != "running":
                break
            await asyncio.sleep(0.01)
        assert loops.report()["sources"] == {"state": "done", "failures": 0, "lastError": ""}
        assert loops.healthy()
    finally:
        await loops.stop()
