"""The thinnest complete path: authority, a city and an agency as real servers on 127.0.0.1.

The city ingests the bundled Nanao CSV; the agency queries it over gRPC (TLS) with a token
under a signed agreement. Expected values are read from the source file by this test.
"""

from __future__ import annotations

import csv
import re
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import orjson
import pytest

from broker.demo.harness import LocalFederation, NodeSpec
from broker.federation._pb import federation_pb2 as pb
from broker.federation._pb import federation_pb2_grpc as pb_grpc
from broker.federation.grpc_client import PeerAddress, open_channel
from broker.ingest import Ingestor
from broker.service.model import FederatedQuery
from mappings.loader import bundled_sample

CITY, AGENCY = "jp-172022", "jp-gov-bousai"
SITE_ID = "CC0000000505"  # 七尾中学校


def source_row(site_id: str) -> dict[str, str]:
    with bundled_sample("nanao_evacuation_sites").open(encoding="utf-8-sig", newline="") as f:
        return next(r for r in csv.DictReader(f) if r["ID"] == site_id)


@pytest.fixture
async def federation(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    fed = LocalFederation(tmp_path)
    try:
        await fed.start_authority()
        await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao City", http=False))
        await fed.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet Office", http=False))
        await fed.publish()
        city = fed.nodes[CITY]
        report = await Ingestor(city.store, city.clock).ingest(
            "evacuation_sites", "bundled:nanao_evacuation_sites",
            bundled_sample("nanao_evacuation_sites"))
        assert report.read == report.mapped + report.quarantined and report.mapped > 100
        await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-e2e",
                        purpose="disaster_response",
                        types={"EvacuationSite": ["name", "location", "capacity",
                                                  "indoorCapacity", "outdoorCapacity"]})
        yield fed
    finally:
        await fed.stop()


async def test_agency_reads_a_named_site_with_the_values_of_the_source_file(
        federation: LocalFederation) -> None:
    row = source_row(SITE_ID)
    indoor, outdoor = (int(n.replace(",", "")) for n in
                       re.findall(r"[\d,]+(?=人)", row["想定収容人数"]))
    agency = federation.nodes[AGENCY]
    outcome = await agency.fanout.query(
        FederatedQuery(types=("EvacuationSite",), purpose="disaster_response"), deadline=10)
    assert [(s.peer, s.status) for s in outcome.statuses] == [(CITY, "ok")]
    site = next(e for e in outcome.entities if e["id"].endswith(SITE_ID))
    assert site["location"]["value"]["coordinates"] == [float(row["経度"]), float(row["緯度"])]
    assert site["indoorCapacity"]["value"] == indoor
    assert site["outdoorCapacity"]["value"] == outdoor
    assert site["name"]["languageMap"]["ja"] == row["名称"]
    assert "telephone" not in site  # not in the agreement's field mask


async def _raw_query(federation: LocalFederation, request: pb.QueryRequest,
                     metadata: tuple[tuple[str, str], ...]) -> grpc.aio.AioRpcError:
    city = federation.nodes[CITY]
    member = city.directory.current.member(CITY)
    assert member is not None
    channel = await open_channel(PeerAddress(CITY, city.grpc_endpoint,
                                             tuple(member.tls_fingerprints)), 4 << 20)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in pb_grpc.FederationStub(channel).Query(request, metadata=metadata,
                                                                 timeout=5):
                pass
        return info.value
    finally:
        await channel.close()


def _reason(error: grpc.aio.AioRpcError) -> str:
    return dict(error.trailing_metadata() or ()).get("renkei-reason", "")


async def test_a_call_without_a_token_is_unauthenticated(federation: LocalFederation) -> None:
    error = await _raw_query(federation, pb.QueryRequest(types=["EvacuationSite"]), ())
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert _reason(error) == "missing_token"


async def test_a_call_outside_the_agreement_is_permission_denied(
        federation: LocalFederation) -> None:
    agency = federation.nodes[AGENCY]
    token = agency.tokens(CITY, "agr-e2e")
    error = await _raw_query(
        federation,
        pb.QueryRequest(types=["EvacuationSite"], attrs=["telephone"],
                        purpose="disaster_response"),
        (("authorization", f"Bearer {token}"),))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert _reason(error) == "field_not_allowed"
    assert "telephone" in (error.details() or "")
    # The refusal is in the provider's audit chain, which still verifies.
    city = federation.nodes[CITY]
    entries = await city.audit.entries()
    assert entries[-1].record.decision == "deny"
    assert entries[-1].record.reason == "field_not_allowed"
    assert (await city.audit.verify()).ok


async def test_query_results_are_receipted_on_both_sides(federation: LocalFederation) -> None:
    agency = federation.nodes[AGENCY]
    outcome = await agency.fanout.query(
        FederatedQuery(types=("EvacuationSite",), ids=(f"urn:ngsi-ld:EvacuationSite:{CITY}:"
                                                       f"{SITE_ID}",),
                       purpose="disaster_response"), deadline=10)
    assert len(outcome.entities) == 1
    consumer_entries = await agency.audit.entries()
    assert consumer_entries[-1].record.operation == "receipt"
    assert consumer_entries[-1].record.result_count == 1
    provider_hash = consumer_entries[-1].record.details["provider_entry_hash"]
    provider_entries = await federation.nodes[CITY].audit.entries()
    assert provider_hash in {e.entry_hash for e in provider_entries}
    assert orjson.dumps(outcome.entities[0])
