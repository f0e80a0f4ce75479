"""Per-peer backoff: grows from min by the multiplier up to max, jittered, reset on success,
and kept in the store so that a restarted node does not hammer a peer that is down."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from broker.config import FederationConfig
from broker.federation.backoff import PeerBackoff
from broker.store.sqlite import SqliteStore
from trust.clock import ManualClock, SystemClock

CONFIG = FederationConfig(backoff_min_seconds=1.0, backoff_multiplier=2.0,
                          backoff_max_seconds=10.0, backoff_jitter=0.0)


async def test_delays_grow_to_the_maximum_and_a_success_resets(store: SqliteStore) -> None:
    clock = ManualClock(1000.0)
    backoff = PeerBackoff(store, clock, CONFIG)
    delays = []
    for _ in range(6):  # each retry, once due, fails again
        await backoff.failed("jp-172022", "unreachable")
        delays.append(await backoff.retry_in("jp-172022"))
        clock.advance(delays[-1])
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
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
    clock.advance(1.0)
    await PeerBackoff(store, clock, CONFIG).failed("jp-172022", "connection refused")
    reopened = PeerBackoff(store, clock, CONFIG)  # a new process reads it from the store
    state = await reopened.state("jp-172022")
    assert (state.failures, state.last_error) == (2, "connection refused")
    assert await reopened.retry_in("jp-172022") == 2.0


async def test_an_outage_counts_once_however_many_callers_run_into_it(
        store: SqliteStore) -> None:
    """Five callers that were in flight when the peer went down, and callers that ignored
    the backoff while it ran, are one failure: the next retry waits 1 s, not 16 s."""
    clock = ManualClock(1000.0)
    backoff = PeerBackoff(store, clock, CONFIG)
    began = backoff.now()
    clock.advance(0.5)
    for _ in range(5):
        await backoff.failed("jp-172022", "connection refused", since=began)
    assert (await backoff.state("jp-172022")).failures == 1
    clock.advance(0.4)  # still backed off: a caller that did not wait fails too
    await backoff.failed("jp-172022", "stream reset")
    state = await backoff.state("jp-172022")
    assert (state.failures, state.last_error) == (1, "stream reset")
    assert await backoff.retry_in("jp-172022") == pytest.approx(0.6)
    # A call begun before the counted failure but failing after the delay ran out (a long
    # deadline) is the same outage too.
    clock.advance(0.7)
    await backoff.failed("jp-172022", "deadline exceeded", since=began)
    assert (await backoff.state("jp-172022")).failures == 1
    # A retry begun after the delay that fails again is the outage going on: it counts.
    await backoff.failed("jp-172022", "connection refused", since=backoff.now())
    assert (await backoff.state("jp-172022")).failures == 2
    assert await backoff.retry_in("jp-172022") == 2.0


async def test_a_reset_wakes_every_waiter_at_once(store: SqliteStore) -> None:
    import asyncio

    backoff = PeerBackoff(store, SystemClock(), FederationConfig(
        backoff_min_seconds=60.0, backoff_jitter=0.0))
    await backoff.failed("jp-172022", "connection refused")
    waiters = [asyncio.create_task(backoff.wait("jp-172022")) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert not any(w.done() for w in waiters)  # backed off for a minute
    await backoff.succeeded("jp-172022")  # another caller got through
    await asyncio.wait_for(asyncio.gather(*waiters), 2.0)


async def test_a_record_from_before_the_outage_counter_still_loads(store: SqliteStore) -> None:
    await store.put_state("backoff", "jp-172022", {"failures": 3, "next_attempt_at": 1004.0,
                                                   "last_error": "down"})
    backoff = PeerBackoff(store, ManualClock(1000.0), CONFIG)
    assert (await backoff.state("jp-172022")).failures == 3
    assert await backoff.retry_in("jp-172022") == 4.0
