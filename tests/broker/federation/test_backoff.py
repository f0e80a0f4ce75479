"""Per-peer backoff: grows from min by the multiplier up to max, jittered, reset on success,
and kept in the store so that a restarted node does not hammer a peer that is down."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.config import FederationConfig
from broker.federation.backoff import PeerBackoff
from broker.store.sqlite import SqliteStore
from trust.clock import ManualClock

CONFIG = FederationConfig(backoff_min_seconds=1.0, backoff_multiplier=2.0,
                          backoff_max_seconds=10.0, backoff_jitter=0.0)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "node.db")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_delays_grow_to_the_maximum_and_a_success_resets(store: SqliteStore) -> None:
    clock = ManualClock(1000.0)
    backoff = PeerBackoff(store, clock, CONFIG)
    delays = []
    for _ in range(6):
        await backoff.failed("jp-172022", "unreachable")
        delays.append(await backoff.retry_in("jp-172022"))
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    clock.advance(10.0)
    assert await backoff.retry_in("jp-172022") == 0.0  # due again
    await backoff.succeeded("jp-172022")
    await backoff.failed("jp-172022", "unreachable")
    assert await backoff.retry_in("jp-172022") == 1.0
    assert await backoff.retry_in("jp-372013") == 0.0  # other peers are unaffected


async def test_jitter_spreads_retries_within_its_bounds(store: SqliteStore) -> None:
    clock = ManualClock(1000.0)
    config = FederationConfig(backoff_min_seconds=10.0, backoff_jitter=0.2)
    delays = set()
    for seed in range(20):
        backoff = PeerBackoff(store, clock, config, rng=random.Random(seed))
        await backoff.succeeded(f"jp-1{seed:05d}")
        await backoff.failed(f"jp-1{seed:05d}", "down")
        delays.add(round(await backoff.retry_in(f"jp-1{seed:05d}"), 3))
    assert len(delays) > 10 and all(8.0 <= d <= 12.0 for d in delays)


async def test_the_state_survives_a_restart(store: SqliteStore, tmp_path: Path) -> None:
    clock = ManualClock(1000.0)
    await PeerBackoff(store, clock, CONFIG).failed("jp-172022", "connection refused")
    await PeerBackoff(store, clock, CONFIG).failed("jp-172022", "connection refused")
    reopened = PeerBackoff(store, clock, CONFIG)  # a new process reads it from the store
    state = await reopened.state("jp-172022")
    assert (state.failures, state.last_error) == (2, "connection refused")
    assert await reopened.retry_in("jp-172022") == 2.0
