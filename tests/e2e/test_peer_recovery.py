"""A short outage must not become a long backoff (issue 18, parts 1 and 2).

The city runs as a child process that is really killed (SIGKILL) and started again on the same
port; the agency runs a long backoff (30 s minimum), so that only the health probe, counting
the outage once and waking waiters can bring it back within seconds.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "broker" / "federation"))

from fedtools import AGENCY, NANAO, SITE_ATTRS, seed_child, site, spec, until  # noqa: E402

from broker.demo.harness import LocalFederation  # noqa: E402
from broker.federation.feed_client import Subscription, SubscriptionSpec  # noqa: E402
from broker.node import Node  # noqa: E402
from broker.service.model import FederatedQuery  # noqa: E402

PURPOSE = "disaster_response"
QUERY = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE, limit=100)
RECOVERY = 10.0  # seconds the agency may take to notice that the city is back


def long_backoff(fed: LocalFederation) -> None:
    """A backoff that, left to its delays, would hold the city for at least 30 s."""
    config = fed.config_files[AGENCY]
    text = config.read_text().replace("backoff_min_seconds = 0.05", "backoff_min_seconds = 30")
    config.write_text(text.replace("backoff_max_seconds = 0.5",
                                   "backoff_max_seconds = 300\nprobe_seconds = 0.2"))


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    f = LocalFederation(tmp_path)
    try:
        await f.start_authority()
        await f.add_node(spec(AGENCY))
        await f.add_child(spec(NANAO))
        await f.publish()
        await seed_child(f, NANAO, [site(NANAO, n) for n in range(5)])
        await f.agree(provider=NANAO, consumer=AGENCY, agreement_id="agr-nanao",
                      purpose=PURPOSE, types={"EvacuationSite": SITE_ATTRS})
        long_backoff(f)
        await f.restart(AGENCY)
        yield f
    finally:
        await f.stop()


async def answers(agency: Node) -> bool:
    outcome = await agency.fanout.query(QUERY, 5.0, peers=[NANAO])
    return [s.status for s in outcome.statuses] == ["ok"]


async def test_an_outage_is_counted_once_and_cleared_when_the_city_answers(
        fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    assert await answers(agency)
    await fed.children[NANAO].kill()
    # Five callers run into the outage together: one failure, the 30 s minimum, not 30·2⁴.
    outcomes = await asyncio.gather(*(agency.fanout.query(QUERY, 3.0, peers=[NANAO])
                                      for _ in range(5)))
    assert {s.status for o in outcomes for s in o.statuses} == {"unavailable"}
    state = await agency.backoff.state(NANAO)
    assert state.failures == 1
    assert 25 < await agency.backoff.retry_in(NANAO) <= 30
    # More callers while it is backed off are refused without a call and count nothing.
    (status,) = (await agency.fanout.query(QUERY, 3.0, peers=[NANAO])).statuses
    assert status.reason == "backing_off"
    assert (await agency.backoff.state(NANAO)).failures == 1

    await fed.restart_child(NANAO)
    back = time.monotonic()
    await until(lambda: _cleared(agency), timeout=RECOVERY)
    print(f"backoff cleared {time.monotonic() - back:.2f}s after the city was back")
    assert await answers(agency)


async def test_a_restarted_agency_does_not_hold_a_recovered_city_back(
        fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    await fed.children[NANAO].kill()
    assert not await answers(agency)
    assert await agency.backoff.retry_in(NANAO) > 25  # persisted in the agency's store
    await fed.stop_node(AGENCY)
    await fed.restart_child(NANAO)
    agency = await fed.start_node(AGENCY)
    await until(lambda: _cleared(agency), timeout=RECOVERY)
    assert await answers(agency)


async def test_a_waiting_subscription_reconnects_as_soon_as_the_backoff_is_reset(
        fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    subscription = agency.subscriptions.start(SubscriptionSpec(
        peer=NANAO, types=("EvacuationSite",), purpose=PURPOSE, agreement_id="agr-nanao",
        name="sites", heartbeat_seconds=1, start="beginning"))
    await until(lambda: _state(subscription, "streaming"), timeout=RECOVERY)
    connects = subscription.status.connects
    await fed.children[NANAO].kill()
    await until(lambda: _state(subscription, "backing_off"), timeout=RECOVERY)
    assert await agency.backoff.retry_in(NANAO) > 25  # it would sleep half a minute
    await fed.restart_child(NANAO)
    await until(lambda: _state(subscription, "streaming"), timeout=RECOVERY)
    assert subscription.status.connects == connects + 1


async def _cleared(agency: Node) -> bool:
    return await agency.backoff.retry_in(NANAO) == 0


async def _state(subscription: Subscription, state: str) -> bool:
    return subscription.status.state == state
