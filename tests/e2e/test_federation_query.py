"""Federated queries and aggregates across real nodes on 127.0.0.1 with TLS."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "broker" / "federation"))

from fedtools import (  # noqa: E402
    AGENCY,
    NANAO,
    SITE_ATTRS,
    SUZU,
    TAKAMATSU,
    WAJIMA,
    federation,
    occupancy,
    seed,
    site,
    until,
)

from broker.demo.harness import LocalFederation  # noqa: E402
from broker.errors import PeerRejected  # noqa: E402
from broker.service.aggregate import SUPPRESSED
from broker.service.filters import Comparison, Near  # noqa: E402
from broker.service.model import AggregateQuery, FederatedQuery, GetRequest  # noqa: E402

PURPOSE = "disaster_response"
CITIES = (NANAO, WAJIMA, SUZU)


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    f = await federation(tmp_path, (AGENCY, *CITIES, TAKAMATSU))
    try:
        for i, city in enumerate(CITIES):
            await seed(f.nodes[city], [site(city, n, dlon=n * 0.001, capacity=10 * (n + i))
                                       for n in range(20)])
            await f.agree(provider=city, consumer=AGENCY, agreement_id=f"agr-{city}",
                          purpose=PURPOSE, types={"EvacuationSite": SITE_ATTRS})
        yield f
    finally:
        await f.stop()


async def test_query_across_cities_merges_results_with_a_status_per_city(
        fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    outcome = await agency.fanout.query(
        FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE), deadline=5.0,
        peers=list(CITIES))
    assert {s.peer: (s.status, s.count) for s in outcome.statuses} == {
        c: ("ok", 20) for c in CITIES}
    assert len(outcome.entities) == 60
    # The agreement's field mask: the telephone number never leaves the city.
    assert all("telephone" not in e for e in outcome.entities)
    assert set(outcome.entities[0]) == {"id", "type", *SITE_ATTRS}
    # The consumer verified and kept each city's signed receipt in its own audit log.
    entries = await agency.audit.entries()
    receipts = [e for e in entries if e.record.operation == "receipt"]
    assert sorted(e.record.caller for e in receipts) == sorted(CITIES)


async def test_the_same_entity_from_two_cities_is_returned_once(fed: LocalFederation) -> None:
    shared = site(NANAO, 999)
    await seed(fed.nodes[WAJIMA], [shared])
    await seed(fed.nodes[NANAO], [shared])
    outcome = await fed.nodes[AGENCY].fanout.query(
        FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE,
                       q=(Comparison("id", "==", shared["id"]),)),
        deadline=5.0, peers=[NANAO, WAJIMA])
    assert [e["id"] for e in outcome.entities] == [shared["id"]]
    assert [(s.peer, s.count) for s in outcome.statuses] == [(NANAO, 1), (WAJIMA, 1)]


async def test_filters_paging_and_geo_are_answered_by_each_provider(
        fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    big = await agency.fanout.query(
        FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE,
                       q=(Comparison("capacity", ">=", 150),), attrs=("capacity",)),
        deadline=5.0, peers=list(CITIES))
    assert big.entities and all(e["capacity"]["value"] >= 150 for e in big.entities)
    assert all(set(e) == {"id", "type", "capacity"} for e in big.entities)

    lon, lat = 136.96, 37.04  # Nanao's centre: only Nanao's shelters are within 2 km
    near = await agency.fanout.query(
        FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE,
                       geo=Near(lon, lat, 2000.0)), deadline=5.0, peers=list(CITIES))
    assert {e["id"].split(":")[3] for e in near.entities} == {NANAO}

    first = await agency.fanout.query(
        FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE, limit=15),
        deadline=5.0, peers=[NANAO])
    token = first.next_page_tokens[NANAO]
    rest = await agency.fanout.query(
        FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE, limit=15, page_token=token),
        deadline=5.0, peers=[NANAO])
    ids = [e["id"] for e in first.entities + rest.entities]
    assert len(ids) == 20 and ids == sorted(set(ids))
    assert NANAO not in rest.next_page_tokens


async def test_a_denied_city_reports_its_reason_and_the_others_still_answer(
        fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    # Takamatsu has no agreement with the agency.
    outcome = await agency.fanout.query(
        FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE), deadline=5.0,
        peers=[NANAO, TAKAMATSU])
    statuses = {s.peer: s for s in outcome.statuses}
    assert statuses[NANAO].status == "ok"
    assert (statuses[TAKAMATSU].status, statuses[TAKAMATSU].reason) == ("denied", "no_agreement")
    assert len(outcome.entities) == 20

    # Asking for an attribute outside the agreement: denied with the stable reason code.
    outcome = await agency.fanout.query(
        FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE, attrs=("telephone",)),
        deadline=5.0, peers=[NANAO])
    assert [(s.status, s.reason) for s in outcome.statuses] == [("denied", "field_not_allowed")]
    # The provider audited the denial with its reason.
    entries = await fed.nodes[NANAO].audit.entries()
    assert [(e.record.decision, e.record.reason) for e in entries
            if e.record.operation == "query"][-1] == ("deny", "field_not_allowed")

    outcome = await agency.fanout.query(
        FederatedQuery(types=("EvacuationSite",), purpose="tourism"), deadline=5.0,
        peers=[NANAO])
    assert [(s.status, s.reason) for s in outcome.statuses] == [("denied",
                                                                 "purpose_not_allowed")]


async def test_aggregates_merge_from_sums_and_counts_and_keep_suppression(
        fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    outcome = await agency.fanout.aggregate(
        AggregateQuery(types=("EvacuationSite",), attribute="capacity",
                       functions=("count", "sum", "avg", "min", "max"), purpose=PURPOSE),
        deadline=5.0, peers=list(CITIES))
    assert [s.status for s in outcome.statuses] == ["ok"] * 3
    by_city = {g.key: g for g in outcome.groups}
    assert set(by_city) == set(CITIES)
    nanao = by_city[NANAO]
    assert (nanao.count, nanao.sum, nanao.min, nanao.max) == (20, 1900.0, 0.0, 190.0)

    # Grouped by an attribute across cities: the average is sum/count over all cities.
    grouped = await agency.fanout.aggregate(
        AggregateQuery(types=("EvacuationSite",), attribute="capacity", group_by="suitableFor",
                       purpose=PURPOSE), deadline=5.0, peers=list(CITIES))
    (group,) = grouped.groups
    total = sum(g.sum for g in outcome.groups)
    assert group.count == 60 and group.avg == pytest.approx(total / 60)


async def test_a_valid_call_from_a_peer_resets_our_backoff_for_it(fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    await agency.backoff.failed(NANAO, "unreachable earlier")
    await agency.backoff.failed(NANAO, "unreachable earlier")
    assert await agency.backoff.retry_in(NANAO) > 0
    # Nanao calls the agency (any authenticated call will do): it is evidently up.
    await fed.nodes[NANAO].peers()[AGENCY].catalog(PURPOSE, 5.0)
    assert (await agency.backoff.state(NANAO)).failures == 0
    assert await agency.backoff.retry_in(NANAO) == 0


async def test_rate_limits_answer_resource_exhausted_and_keep_what_was_sent(
        fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    await fed.agree(provider=TAKAMATSU, consumer=AGENCY, agreement_id="agr-small",
                    purpose=PURPOSE, types={"EvacuationSite": SITE_ATTRS},
                    requests_per_minute=2, entities_per_day=25)
    await seed(fed.nodes[TAKAMATSU], [site(TAKAMATSU, n) for n in range(40)])
    query = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE)
    # The day's entity budget runs out mid-stream: what fits is delivered, then the reason.
    first = await agency.fanout.query(query, 5.0, peers=[TAKAMATSU])
    (status,) = first.statuses
    assert (status.status, status.reason, status.count) == ("denied", "rate_limited", 25)
    assert len(first.entities) == 25
    await agency.fanout.query(query, 5.0, peers=[TAKAMATSU])
    # Past the requests per minute: refused before any work.
    third = await agency.fanout.query(query, 5.0, peers=[TAKAMATSU])
    assert [(s.status, s.reason, s.count) for s in third.statuses] == [
        ("denied", "rate_limited", 0)]


async def test_one_entity_by_id_and_the_same_not_found_for_absent_or_not_shared(
        fed: LocalFederation) -> None:
    channel = fed.nodes[AGENCY].peers()[NANAO]
    shelter = site(NANAO, 3)
    found = await channel.get_entity(GetRequest(shelter["id"], purpose=PURPOSE), 5.0)
    entity = orjson.loads(found.entity)
    assert entity["id"] == shelter["id"] and "telephone" not in entity and found.receipt
    await seed(fed.nodes[NANAO], [occupancy(NANAO, 1, 5)])  # a type the agreement does not share
    for absent in ("urn:ngsi-ld:EvacuationSite:jp-172022:nope", occupancy(NANAO, 1, 5)["id"]):
        with pytest.raises(PeerRejected) as caught:
            await channel.get_entity(GetRequest(absent, purpose=PURPOSE), 5.0)
        assert (caught.value.status, caught.value.reason) == ("NOT_FOUND", "not_found")
    with pytest.raises(PeerRejected) as bad:
        await channel.aggregate(AggregateQuery(types=(), purpose=PURPOSE), 5.0)
    assert (bad.value.status, bad.value.reason) == ("INVALID_ARGUMENT", "bad_request")


async def test_small_groups_stay_suppressed_when_cities_are_merged(
        fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    # Takamatsu shares aggregates only, with k = 5: its groups of fewer than 5 are withheld.
    await fed.agree(provider=TAKAMATSU, consumer=AGENCY, agreement_id="agr-k",
                    purpose=PURPOSE, types={"EvacuationSite": SITE_ATTRS}, aggregate_only=True,
                    k=5)
    await seed(fed.nodes[TAKAMATSU], [site(TAKAMATSU, n, capacity=7 if n < 3 else 8)
                                      for n in range(10)])
    await seed(fed.nodes[NANAO], [site(NANAO, 100 + n, capacity=7) for n in range(6)])
    outcome = await agency.fanout.aggregate(
        AggregateQuery(types=("EvacuationSite",), attribute="capacity", group_by="capacity",
                       purpose=PURPOSE), 5.0, peers=[TAKAMATSU, NANAO])
    groups = {g.key: g for g in outcome.groups}
    # Takamatsu's "7" (3 sites) is withheld, key and all: the merged "7" holds Nanao's 6
    # only, and one marker says that something was withheld, without saying what.
    assert (groups["7"].count, groups["7"].suppressed) == (6, False)
    assert (groups["8"].count, groups["8"].suppressed) == (7, False)
    marker = groups[SUPPRESSED]
    assert marker.suppressed and marker.count == 0 and marker.avg is None
    # Grouping by id, or filtering down to one site, reveals nothing either.
    by_id = await agency.fanout.aggregate(
        AggregateQuery(types=("EvacuationSite",), group_by="id", purpose=PURPOSE), 5.0,
        peers=[TAKAMATSU])
    assert [g.key for g in by_id.groups] == [SUPPRESSED]
    one = await agency.fanout.aggregate(
        AggregateQuery(types=("EvacuationSite",), attribute="capacity",
                       q=(Comparison("id", "==", site(TAKAMATSU, 1)["id"]),), purpose=PURPOSE),
        5.0, peers=[TAKAMATSU])
    assert [(s.status, s.reason) for s in one.statuses] == [("denied", "below_k_threshold")]
    # Raw queries are refused under an aggregate-only agreement.
    raw = await agency.fanout.query(FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE),
                                    5.0, peers=[TAKAMATSU])
    assert [(s.status, s.reason) for s in raw.statuses] == [("denied", "aggregate_only")]


async def test_a_stream_cut_by_the_deadline_is_audited_with_what_left_the_provider(
        fed: LocalFederation) -> None:
    padding = {"description": {"type": "Property", "value": "x" * 2000}}
    await seed(fed.nodes[NANAO], [site(NANAO, 1000 + n, **padding) for n in range(6000)])
    await fed.agree(provider=NANAO, consumer=AGENCY, agreement_id="agr-big", purpose=PURPOSE,
                    types={"EvacuationSite": [*SITE_ATTRS, "description"]})

    # One small query first, so that the provider's streaming index is built before the
    # timed one: on a loaded machine building it for 6,000 sites took longer than the 1 s
    # deadline, and the test then saw no batch at all (count 0) instead of a cut stream.
    warm = await fed.nodes[AGENCY].fanout.query(
        FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE, agreement_id="agr-big",
                       limit=1), 30.0, peers=[NANAO])
    assert [s.status for s in warm.statuses] == ["ok"]

    async def slow_consumer(peer: str, count: int) -> None:
        await asyncio.sleep(2.0)  # stalls: the provider blocks on flow control, then the deadline

    outcome = await fed.nodes[AGENCY].fanout.query(
        FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE, agreement_id="agr-big",
                       limit=10_000), 1.0, peers=[NANAO], progress=slow_consumer)
    (status,) = outcome.statuses
    assert status.status == "deadline_exceeded" and 0 < status.count < 6020

    async def audited() -> bool:
        entries = await fed.nodes[NANAO].audit.entries()
        return any(e.record.reason == "interrupted" for e in entries)

    await until(audited)
    (entry,) = [e.record for e in await fed.nodes[NANAO].audit.entries()
                if e.record.reason == "interrupted"]
    assert entry.decision == "allow" and entry.caller == AGENCY
    assert status.count <= entry.result_count < 6020
