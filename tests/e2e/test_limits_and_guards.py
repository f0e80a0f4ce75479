"""Protections a provider enforces on real gRPC calls: rate limits (kept across a restart),
an entity budget that ends a stream after what fits, the differencing guard of aggregate-only
agreements, and replay refusal of a token presented on a second connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from broker.demo.harness import LocalFederation, NodeSpec
from broker.errors import PeerRejected
from broker.federation._pb import federation_pb2 as pb
from broker.federation._pb import federation_pb2_grpc as pb_grpc
from broker.federation.grpc_client import PeerAddress, open_channel
from broker.service.entity_write import entity_write
from broker.service.filters import Comparison
from broker.service.model import AggregateQuery, FederatedQuery, GetRequest, SubscribeRequest

CITY, AGENCY = "jp-172022", "jp-gov-bousai"
PURPOSE = "disaster_response"


def site(n: int, district: str) -> dict[str, object]:
    return {"id": f"urn:ngsi-ld:EvacuationSite:{CITY}:{n:03d}", "type": "EvacuationSite",
            "capacity": {"type": "Property", "value": 100 + n},
            "servedArea": {"type": "Property", "value": district}}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    federation = LocalFederation(tmp_path)
    try:
        await federation.start_authority()
        city = await federation.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao", http=False))
        await federation.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet", http=False))
        await federation.publish()
        await city.store.upsert_entities(
            [entity_write(site(n, "east" if n < 5 else "west")) for n in range(8)], 1.0)
        yield federation
    finally:
        await federation.stop()


async def test_requests_per_minute_are_limited_even_across_a_restart(
        fed: LocalFederation) -> None:
    await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-rpm", purpose=PURPOSE,
                    types={"EvacuationSite": ["capacity"]}, requests_per_minute=2)
    query = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE)
    for _ in range(2):
        ok = await fed.nodes[AGENCY].fanout.query(query, deadline=10)
        assert [s.status for s in ok.statuses] == ["ok"]
    limited = await fed.nodes[AGENCY].fanout.query(query, deadline=10)
    assert [(s.status, s.reason) for s in limited.statuses] == [("denied", "rate_limited")]
    assert limited.entities == []

    await fed.restart(CITY)  # the counters are in the city's store, not in its memory
    again = await fed.nodes[AGENCY].fanout.query(query, deadline=10)
    assert [(s.status, s.reason) for s in again.statuses] == [("denied", "rate_limited")]


async def test_the_day_budget_ends_a_stream_after_what_fits(fed: LocalFederation) -> None:
    await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-budget", purpose=PURPOSE,
                    types={"EvacuationSite": ["capacity"]}, entities_per_day=5)
    outcome = await fed.nodes[AGENCY].fanout.query(
        FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE), deadline=10)
    status = outcome.statuses[0]
    assert (status.status, status.reason) == ("denied", "rate_limited")
    assert len(outcome.entities) == 5  # what fitted in the budget arrived and is kept
    # What was sent is in the provider's evidence too.
    entries = await fed.nodes[CITY].audit.entries()
    assert entries[-1].record.result_count == 5


async def test_two_aggregates_that_differ_by_fewer_than_k_entities_are_refused(
        fed: LocalFederation) -> None:
    await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-stats", purpose="statistics",
                    types={"EvacuationSite": ["capacity", "servedArea"]}, aggregate_only=True,
                    k=3)
    fanout = fed.nodes[AGENCY].fanout
    by_area = AggregateQuery(types=("EvacuationSite",), attribute="capacity",
                             functions=("count", "sum"), group_by="servedArea",
                             purpose="statistics")
    first = await fanout.aggregate(by_area, deadline=10)
    assert {g.key: g.count for g in first.groups} == {"east": 5, "west": 3}
    # The same groups minus one site: subtracting would reveal that site's capacity.
    minus_one = AggregateQuery(types=("EvacuationSite",), attribute="capacity",
                               functions=("count", "sum"), group_by="servedArea",
                               q=(Comparison("capacity", "!=", 100),), purpose="statistics")
    refused = await fanout.aggregate(minus_one, deadline=10)
    assert [(s.status, s.reason) for s in refused.statuses] == [
        ("denied", "differencing_suspected")]
    assert refused.groups == []
    last = (await fed.nodes[CITY].audit.entries())[-1].record
    assert (last.decision, last.reason) == ("deny", "differencing_suspected")


async def test_a_token_presented_on_a_second_connection_is_a_replay(fed: LocalFederation) -> None:
    await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-tok", purpose=PURPOSE,
                    types={"EvacuationSite": ["capacity"]})
    city = fed.nodes[CITY]
    member = city.directory.current.member(CITY)
    assert member is not None
    token = fed.nodes[AGENCY].tokens(CITY, "agr-tok")
    request = pb.GetEntityRequest(id=str(site(1, "east")["id"]), purpose=PURPOSE)
    metadata = (("authorization", f"Bearer {token}"),)
    results = []
    for _ in range(2):  # two separate connections, as a thief's copy would use
        channel = await open_channel(PeerAddress(CITY, city.grpc_endpoint,
                                                 tuple(member.tls_fingerprints)), 4 << 20)
        try:
            stub = pb_grpc.FederationStub(channel)
            reply = await stub.GetEntity(request, metadata=metadata, timeout=5)
            results.append(("ok", reply.entity))
            again = await stub.GetEntity(request, metadata=metadata, timeout=5)
            results.append(("ok again", again.entity))  # same connection: a cached hit
        except grpc.aio.AioRpcError as error:
            reason = dict(error.trailing_metadata() or ()).get("renkei-reason")
            results.append((error.code().name, reason))
        finally:
            await channel.close()
    assert [r[0] for r in results[:2]] == ["ok", "ok again"]
    assert results[2] == ("UNAUTHENTICATED", "replayed")


async def test_filtering_on_an_attribute_outside_the_mask_is_refused(
        fed: LocalFederation) -> None:
    # The agreement shares capacity but not servedArea: a filter on servedArea would tell the
    # caller which sites lie in which area through the size of the answer.
    await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-mask", purpose=PURPOSE,
                    types={"EvacuationSite": ["capacity"]})
    fanout = fed.nodes[AGENCY].fanout
    probe = (Comparison("servedArea", "==", "east"),)
    query = await fanout.query(FederatedQuery(types=("EvacuationSite",), q=probe,
                                              purpose=PURPOSE), deadline=10)
    assert [(s.status, s.reason) for s in query.statuses] == [("denied", "field_not_allowed")]
    assert query.entities == []
    total = await fanout.aggregate(AggregateQuery(types=("EvacuationSite",), q=probe,
                                                  purpose=PURPOSE), deadline=10)
    assert [(s.status, s.reason) for s in total.statuses] == [("denied", "field_not_allowed")]
    # Filtering on what the agreement shares is fine.
    fine = await fanout.query(FederatedQuery(
        types=("EvacuationSite",), q=(Comparison("capacity", ">=", 105),), purpose=PURPOSE),
        deadline=10)
    assert len(fine.entities) == 3 and all("servedArea" not in e for e in fine.entities)


async def test_a_subscription_filtering_outside_the_mask_is_refused(
        fed: LocalFederation) -> None:
    await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-sub-mask",
                    purpose=PURPOSE, types={"EvacuationSite": ["capacity"]})
    channel = fed.nodes[AGENCY].peers()[CITY]
    stream = channel.subscribe(SubscribeRequest(
        types=("EvacuationSite",), q=(Comparison("servedArea", "==", "east"),),
        purpose=PURPOSE, agreement_id="agr-sub-mask", heartbeat_seconds=1), timeout=10)
    with pytest.raises(PeerRejected) as refused:
        await anext(stream)
    assert refused.value.reason == "field_not_allowed"


async def test_subscription_changes_spend_the_day_budget(fed: LocalFederation) -> None:
    await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-sub-budget",
                    purpose=PURPOSE, types={"EvacuationSite": ["capacity"]},
                    entities_per_day=3)
    channel = fed.nodes[AGENCY].peers()[CITY]
    received = []
    with pytest.raises(PeerRejected) as ended:
        async for event in channel.subscribe(SubscribeRequest(
                types=("EvacuationSite",), purpose=PURPOSE, agreement_id="agr-sub-budget",
                heartbeat_seconds=1), timeout=10):
            if event.kind != "heartbeat":
                received.append(event.entity_id)
    assert len(received) == 3  # the 8 sites' changes stop at the budget
    assert ended.value.reason == "rate_limited"


async def test_one_peer_cannot_hold_every_stream(tmp_path: Path) -> None:
    federation = LocalFederation(tmp_path)
    try:
        await federation.start_authority()
        await federation.add_node(NodeSpec(
            CITY, "city", "七尾市", "Nanao", http=False,
            extra_toml="\n[federation]\nmax_streams_per_peer = 2\n"))
        await federation.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet", http=False))
        await federation.publish()
        await federation.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-streams",
                               purpose=PURPOSE, types={"EvacuationSite": ["capacity"]})
        channel = federation.nodes[AGENCY].peers()[CITY]
        request = SubscribeRequest(types=("EvacuationSite",), purpose=PURPOSE,
                                   agreement_id="agr-streams", heartbeat_seconds=1)
        open_streams = [channel.subscribe(request, timeout=30) for _ in range(2)]
        for stream in open_streams:
            assert (await anext(stream)).kind == "heartbeat"  # open and held
        third = channel.subscribe(request, timeout=10)
        with pytest.raises(PeerRejected) as refused:
            await anext(third)
        assert (refused.value.status, refused.value.reason) == ("RESOURCE_EXHAUSTED",
                                                                "too_many_streams")
        for stream in open_streams:
            await stream.aclose()
    finally:
        await federation.stop()


async def test_get_entity_answers_alike_for_absent_and_existing_ids(
        fed: LocalFederation) -> None:
    await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-get", purpose=PURPOSE,
                    types={"EvacuationSite": ["capacity"]})
    channel = fed.nodes[AGENCY].peers()[CITY]
    existing, absent = str(site(1, "east")["id"]), f"urn:ngsi-ld:EvacuationSite:{CITY}:nope"
    answers = []
    for entity_id in (existing, absent):
        with pytest.raises(PeerRejected) as refused:  # a purpose the agreement does not cover
            await channel.get_entity(GetRequest(entity_id, purpose="tourism"), 5.0)
        answers.append((refused.value.status, refused.value.reason))
    assert answers[0] == answers[1] == ("PERMISSION_DENIED", "purpose_not_allowed")
    with pytest.raises(PeerRejected):
        await channel.get_entity(GetRequest(absent, purpose=PURPOSE), 5.0)
    entries = await fed.nodes[CITY].audit.entries()
    assert (entries[-1].record.operation, entries[-1].record.reason) == ("get", "not_found")


async def test_the_member_an_id_belongs_to_wins_over_a_copy(fed: LocalFederation) -> None:
    other = "jp-172031"
    impostor = await fed.add_node(NodeSpec(other, "city", "輪島市", "Wajima", http=False))
    await fed.publish()
    forged = {**site(1, "east"), "capacity": {"type": "Property", "value": 5}}
    await impostor.store.upsert_entities([entity_write(forged)], 1.0)
    for provider in (CITY, other):
        await fed.agree(provider=provider, consumer=AGENCY, agreement_id=f"agr-{provider}",
                        purpose=PURPOSE, types={"EvacuationSite": ["capacity"]})
    for _ in range(5):  # whichever answers first
        outcome = await fed.nodes[AGENCY].fanout.query(
            FederatedQuery(types=("EvacuationSite",), ids=(str(forged["id"]),),
                           purpose=PURPOSE), deadline=10,
            agreements={CITY: f"agr-{CITY}", other: f"agr-{other}"})
        assert [e["capacity"]["value"] for e in outcome.entities] == [101]
