"""The fan-out measures its deadline and each peer's time on the clock it is given.

Real nodes on loopback (TLS, real gRPC); only the fan-out's monotonic clock is stepped by the
test, so what the statuses say can be checked exactly instead of against the wall clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fedtools import AGENCY, NANAO, WAJIMA, federation, seed, site

from broker.demo.harness import LocalFederation
from broker.federation.fanout import FanOut
from broker.service.model import FederatedQuery

PURPOSE = "disaster_response"
QUERY = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE, limit=100)


class SteppedClock:
    """Each reading is ``step`` seconds after the previous one."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += self.step
        return self.t


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    f = await federation(tmp_path, [AGENCY, NANAO, WAJIMA])
    try:
        for city in (NANAO, WAJIMA):
            await seed(f.nodes[city], [site(city, n) for n in range(3)])
            await f.agree(provider=city, consumer=AGENCY, agreement_id=f"agr-{city}",
                          purpose=PURPOSE, types={"EvacuationSite": ["name", "location"]})
        yield f
    finally:
        await f.stop()


def fanout_of(fed: LocalFederation, monotonic: SteppedClock) -> FanOut:
    agency = fed.nodes[AGENCY]
    return FanOut(agency.peers, agency.backoff, 4, node_id=AGENCY, monotonic=monotonic)


async def test_elapsed_time_of_each_peer_is_read_from_the_injected_clock(
        fed: LocalFederation) -> None:
    # The clock stands still except when the peer's batch arrives, when the test moves it on
    # by 0.75 s: the status reports exactly 750 ms, whatever the wall clock did meanwhile.
    clock = SteppedClock(0.0)

    async def batch_arrived(peer: str, count: int) -> None:
        clock.t += 0.75

    outcome = await fanout_of(fed, clock).query(QUERY, 30.0, peers=[NANAO],
                                                progress=batch_arrived)
    assert [(s.peer, s.status, s.count, s.elapsed_ms) for s in outcome.statuses] == [
        (NANAO, "ok", 3, 750.0)]


async def test_a_deadline_spent_on_the_clock_leaves_the_peer_only_the_floor(
        fed: LocalFederation) -> None:
    # Nanao has megabytes to send: more than the 10 ms floor lets through.
    padding = {"description": {"type": "Property", "value": "x" * 2000}}
    await seed(fed.nodes[NANAO], [site(NANAO, n, **padding) for n in range(3, 3000)])
    big = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE, limit=10_000)
    # An hour passes on the injected clock before the peer is called: the 30 s deadline is
    # spent, so the call gets only the floor and ends with what arrived by then.
    outcome = await fanout_of(fed, SteppedClock(3600.0)).query(big, 30.0, peers=[NANAO])
    assert [(s.peer, s.status) for s in outcome.statuses] == [(NANAO, "deadline_exceeded")]
    assert outcome.statuses[0].count < 3000
    # With a clock that does not run fast, the same call gets its 30 s and answers whole.
    await fed.nodes[AGENCY].backoff.succeeded(NANAO)
    again = await fanout_of(fed, SteppedClock(0.0)).query(big, 30.0, peers=[NANAO])
    assert [(s.peer, s.status, s.count) for s in again.statuses] == [(NANAO, "ok", 3000)]
