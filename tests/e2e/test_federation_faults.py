"""Faults with real processes: a city killed mid-stream, a city that stops answering, and
backoff that survives a restart. Cities run as child processes so that they can really die."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "broker" / "federation"))

from fedtools import (  # noqa: E402
    AGENCY,
    NANAO,
    SITE_ATTRS,
    SUZU,
    WAJIMA,
    seed,
    seed_child,
    site,
    spec,
)

from broker.demo.harness import LocalFederation  # noqa: E402
from broker.service.model import FederatedQuery  # noqa: E402

PURPOSE = "disaster_response"
QUERY = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE, limit=10_000)
# Large entities, so that a stream is many megabytes and cannot sit whole in socket buffers.
PADDING = {"description": {"type": "Property", "value": "x" * 2000}}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    f = LocalFederation(tmp_path)
    try:
        await f.start_authority()
        await f.add_node(spec(AGENCY))
        await f.add_node(spec(WAJIMA))
        await f.add_child(spec(NANAO))
        await f.publish()
        await seed(f.nodes[WAJIMA], [site(WAJIMA, n) for n in range(10)])
        await seed_child(f, NANAO, [site(NANAO, n) for n in range(10)])
        for city in (NANAO, WAJIMA):
            await f.agree(provider=city, consumer=AGENCY, agreement_id=f"agr-{city}",
                          purpose=PURPOSE, types={"EvacuationSite": SITE_ATTRS + ["description"]})
        yield f
    finally:
        await f.stop()


async def test_a_city_killed_mid_stream_yields_a_partial_result_and_a_status(
        fed: LocalFederation) -> None:
    agency, nanao = fed.nodes[AGENCY], fed.children[NANAO]
    await seed_child(fed, NANAO, [site(NANAO, n, **PADDING) for n in range(6000)])
    killed = False

    async def kill_after_the_first_batch(peer: str, count: int) -> None:
        nonlocal killed
        if peer == NANAO and not killed:
            killed = True
            await nanao.kill()  # while Nanao is still sending

    started = time.monotonic()
    outcome = await agency.fanout.query(QUERY, 10.0, peers=[NANAO, WAJIMA],
                                        progress=kill_after_the_first_batch)
    elapsed = time.monotonic() - started
    statuses = {s.peer: s for s in outcome.statuses}
    assert killed
    assert statuses[WAJIMA].status == "ok" and statuses[WAJIMA].count == 10
    assert statuses[NANAO].status == "unavailable"
    # What Nanao sent before it died is kept and counted.
    partial = statuses[NANAO].count
    assert 0 < partial < 6000
    assert len(outcome.entities) == 10 + partial
    assert elapsed < 10.0  # no hang: the reset is noticed at once, not at the deadline
    # The failure moved Nanao's backoff on (kept in the store).
    assert (await agency.backoff.state(NANAO)).failures == 1


async def test_cities_that_stop_answering_do_not_hold_the_answer_past_the_deadline(
        fed: LocalFederation) -> None:
    agency, nanao = fed.nodes[AGENCY], fed.children[NANAO]
    suzu = await fed.add_child(spec(SUZU))  # never contacted before it stops answering
    await fed.publish()
    nanao.pause()
    suzu.pause()
    try:
        started = time.monotonic()
        outcome = await agency.fanout.query(QUERY, 1.5, peers=[NANAO, SUZU, WAJIMA])
        elapsed = time.monotonic() - started
    finally:
        nanao.resume()
        suzu.resume()
    statuses = {s.peer: s.status for s in outcome.statuses}
    assert statuses == {NANAO: "deadline_exceeded", SUZU: "deadline_exceeded", WAJIMA: "ok"}
    assert len(outcome.entities) == 10
    assert elapsed < 1.5 + 2.0  # by the deadline, with a generous margin for a loaded machine

    # Nanao answers again once it is back and its short backoff has passed; success resets it.
    await asyncio.sleep(0.6)
    again = await agency.fanout.query(FederatedQuery(types=("EvacuationSite",),
                                                     purpose=PURPOSE, limit=5), 10.0,
                                      peers=[NANAO])
    assert [(s.status, s.count) for s in again.statuses] == [("ok", 5)]
    assert (await agency.backoff.state(NANAO)).failures == 0


async def test_backoff_survives_a_restart_of_the_asking_node(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path)
    try:
        await fed.start_authority()
        await fed.add_node(spec(AGENCY))
        await fed.add_child(spec(NANAO))
        await fed.publish()
        # Long backoff for this test only (the [federation] table comes from the kit).
        config = fed.config_files[AGENCY]
        text = config.read_text().replace("backoff_min_seconds = 0.05",
                                          "backoff_min_seconds = 60")
        config.write_text(text.replace("backoff_max_seconds = 0.5", "backoff_max_seconds = 600"))
        agency = await fed.restart(AGENCY)
        await fed.children[NANAO].kill()
        first = await agency.fanout.query(QUERY, 2.0, peers=[NANAO])
        assert [s.status for s in first.statuses] == ["unavailable"]

        agency = await fed.restart(AGENCY)
        second = await agency.fanout.query(QUERY, 2.0, peers=[NANAO])
        (status,) = second.statuses
        assert (status.status, status.reason) == ("unavailable", "backing_off")  # not tried
    finally:
        await fed.stop()
