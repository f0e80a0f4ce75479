"""Forwarding and its loop guard: an agency aggregating for another agency, and cycles."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "broker" / "federation"))

from fedtools import AGENCY, NANAO, SITE_ATTRS, WAJIMA, seed, site, spec  # noqa: E402

from broker.demo.harness import LocalFederation  # noqa: E402
from broker.errors import PeerRejected  # noqa: E402
from broker.service.model import AggregateQuery, Routing  # noqa: E402

PURPOSE = "disaster_response"
CAO = "jp-gov-cao"  # the Cabinet Office aggregates for the fire agency
FORWARD = "forward_aggregates = true\n"
COUNT = AggregateQuery(types=("EvacuationSite",), attribute="capacity", by_city=True,
                       purpose=PURPOSE)
SITES = {"EvacuationSite": SITE_ATTRS}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    f = LocalFederation(tmp_path)
    try:
        await f.start_authority()
        for member in (AGENCY, CAO, NANAO, WAJIMA):
            await f.add_node(spec(member, FORWARD if member.startswith("jp-gov") else ""))
        await f.publish()
        await seed(f.nodes[NANAO], [site(NANAO, n) for n in range(4)])
        await seed(f.nodes[WAJIMA], [site(WAJIMA, n) for n in range(3)])
        # Nanao shares with the Cabinet Office and allows it to pass aggregates on.
        await f.agree(provider=NANAO, consumer=CAO, agreement_id="agr-nanao-cao",
                      purpose=PURPOSE, types=SITES, onward_sharing=True)
        # The Cabinet Office shares with the fire agency.
        await f.agree(provider=CAO, consumer=AGENCY, agreement_id="agr-cao-fdma",
                      purpose=PURPOSE, types=SITES, onward_sharing=True)
        yield f
    finally:
        await f.stop()


async def test_an_agency_forwards_aggregates_of_its_providers(fed: LocalFederation) -> None:
    # Wajima shares with the Cabinet Office too, but without onward sharing: not forwarded.
    await fed.agree(provider=WAJIMA, consumer=CAO, agreement_id="agr-wajima-cao",
                    purpose=PURPOSE, types=SITES)
    outcome = await fed.nodes[AGENCY].fanout.aggregate(COUNT, 5.0, peers=[CAO])
    assert [s.status for s in outcome.statuses] == ["ok"]
    assert {g.key: g.count for g in outcome.groups} == {NANAO: 4}


async def test_a_cycle_stops_at_the_first_node_that_sees_itself(fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    # The fire agency has data of its own and shares it back with the Cabinet Office, which
    # forwards to all its providers: without the loop guard the agency's request would come
    # back to it (A asks B, B asks A, ...).
    await seed(agency, [site(AGENCY, n) for n in range(5)])
    await fed.agree(provider=AGENCY, consumer=CAO, agreement_id="agr-fdma-cao",
                    purpose=PURPOSE, types=SITES, onward_sharing=True)
    outcome = await agency.fanout.aggregate(COUNT, 5.0, peers=[CAO])
    assert [s.status for s in outcome.statuses] == ["ok"]
    # The agency's own shelters did not come back to it through the Cabinet Office.
    assert {g.key: g.count for g in outcome.groups} == {NANAO: 4}
    # The agency refused the forwarded request and audited why.
    refused = [e.record for e in await agency.audit.entries()
               if e.record.operation == "aggregate" and e.record.decision == "deny"]
    assert [(r.caller, r.reason) for r in refused] == [(CAO, "loop_detected")]

    # Asked directly by the Cabinet Office (not forwarding), the agency answers.
    direct = await fed.nodes[CAO].fanout.aggregate(COUNT, 5.0, peers=[AGENCY])
    assert {g.key: g.count for g in direct.groups} == {AGENCY: 5}


async def test_a_request_that_passed_through_a_node_or_has_no_hop_left_is_refused(
        fed: LocalFederation) -> None:
    channel = fed.nodes[CAO].peers()[NANAO]
    for routing in (Routing((AGENCY, NANAO), 2), Routing((CAO,), 0)):
        with pytest.raises(PeerRejected) as caught:
            await channel.aggregate(AggregateQuery(**{**COUNT.__dict__, "routing": routing}),
                                    5.0)
        assert (caught.value.status, caught.value.reason) == ("INVALID_ARGUMENT",
                                                              "loop_detected")


async def test_the_hop_limit_bounds_how_far_a_request_is_forwarded(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path)
    try:
        await fed.start_authority()
        await fed.add_node(spec(AGENCY, FORWARD.replace("forward_aggregates = true",
                                                         "hop_limit = 1")))
        await fed.add_node(spec(CAO, FORWARD))
        await fed.add_node(spec(NANAO))
        await fed.publish()
        await seed(fed.nodes[NANAO], [site(NANAO, n) for n in range(4)])
        await seed(fed.nodes[CAO], [site(AGENCY, 100 + n) for n in range(2)])
        await fed.agree(provider=NANAO, consumer=CAO, agreement_id="agr-nanao-cao",
                        purpose=PURPOSE, types=SITES, onward_sharing=True)
        await fed.agree(provider=CAO, consumer=AGENCY, agreement_id="agr-cao-fdma",
                        purpose=PURPOSE, types=SITES)
        # One hop: the Cabinet Office answers for itself but may not ask Nanao.
        outcome = await fed.nodes[AGENCY].fanout.aggregate(COUNT, 5.0, peers=[CAO])
        assert {g.key: g.count for g in outcome.groups} == {CAO: 2}
    finally:
        await fed.stop()


async def test_forwarded_aggregates_stay_inside_the_callers_agreed_area(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path)
    try:
        await fed.start_authority()
        for member in (AGENCY, CAO, NANAO):
            await fed.add_node(spec(member, FORWARD if member.startswith("jp-gov") else ""))
        await fed.publish()
        await seed(fed.nodes[NANAO], [site(NANAO, n) for n in range(4)])
        await fed.agree(provider=NANAO, consumer=CAO, agreement_id="agr-nanao-cao",
                        purpose=PURPOSE, types=SITES, onward_sharing=True)
        # The fire agency may see the Cabinet Office's data only far from Nanao.
        await fed.agree(provider=CAO, consumer=AGENCY, agreement_id="agr-cao-south",
                        purpose=PURPOSE, types=SITES, onward_sharing=True,
                        area=[130.0, 31.0, 131.0, 32.0])
        outcome = await fed.nodes[AGENCY].fanout.aggregate(COUNT, 5.0, peers=[CAO])
        assert [s.status for s in outcome.statuses] == ["ok"]
        assert {g.key: g.count for g in outcome.groups} == {}
    finally:
        await fed.stop()
