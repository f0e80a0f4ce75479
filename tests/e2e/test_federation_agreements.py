"""Agreements exchanged over gRPC between two nodes, and the catalog they open."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "broker" / "federation"))

from fedtools import AGENCY, NANAO, SITE_ATTRS, federation, seed, site  # noqa: E402

from broker.demo.harness import LocalFederation  # noqa: E402
from broker.errors import (
    NotFound,  # noqa: E402
    PeerRejected,  # noqa: E402
)
from broker.service.agreement_exchange import to_message  # noqa: E402
from broker.service.model import AgreementMessage, FederatedQuery  # noqa: E402
from trust.agreements import SignedAgreement  # noqa: E402

PURPOSE = "disaster_response"
# The western half of Nanao's shelters (they are spread eastwards from the centre).
WEST = {"type": "Polygon", "coordinates": [[[136.90, 37.00], [136.9645, 37.00],
                                            [136.9645, 37.10], [136.90, 37.10],
                                            [136.90, 37.00]]]}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    f = await federation(tmp_path, (AGENCY, NANAO))
    try:
        await seed(f.nodes[NANAO], [site(NANAO, n, dlon=n * 0.001) for n in range(10)])
        yield f
    finally:
        await f.stop()


async def test_propose_and_countersign_over_grpc_end_with_the_same_active_agreement(
        fed: LocalFederation) -> None:
    agency, nanao = fed.nodes[AGENCY], fed.nodes[NANAO]
    agreement = fed.agreement(provider=NANAO, consumer=AGENCY, agreement_id="agr-1",
                              purpose=PURPOSE, types={"EvacuationSite": SITE_ATTRS})
    proposed = await agency.exchange.propose(agreement)
    assert proposed.state == "proposed"
    # The provider holds the proposal, signed by the consumer only, and serves nothing yet.
    held = nanao.agreements.get("agr-1")
    assert held.state == "proposed" and set(held.signed.signatures) == {AGENCY}
    denied = await agency.fanout.query(FederatedQuery(types=("EvacuationSite",),
                                                      purpose=PURPOSE), 5.0, peers=[NANAO])
    assert [s.status for s in denied.statuses] == ["denied"]

    await nanao.exchange.countersign("agr-1")
    for node in (agency, nanao):
        view = node.agreements.get("agr-1")
        assert view.state == "active"
        assert set(view.signed.signatures) == {AGENCY, NANAO}
        assert view.signed.agreement == agreement
    answer = await agency.fanout.query(FederatedQuery(types=("EvacuationSite",),
                                                      purpose=PURPOSE), 5.0, peers=[NANAO])
    assert [(s.status, s.count) for s in answer.statuses] == [("ok", 10)]


async def test_a_revocation_travels_to_the_other_party_and_stops_the_data(
        fed: LocalFederation) -> None:
    agency, nanao = fed.nodes[AGENCY], fed.nodes[NANAO]
    await fed.agree(provider=NANAO, consumer=AGENCY, agreement_id="agr-1", purpose=PURPOSE,
                    types={"EvacuationSite": SITE_ATTRS})
    await nanao.exchange.revoke("agr-1", "end of the exercise")
    assert agency.agreements.get("agr-1").state == "revoked"
    assert nanao.agreements.get("agr-1").state == "revoked"
    outcome = await agency.fanout.query(FederatedQuery(types=("EvacuationSite",),
                                                       purpose=PURPOSE), 5.0, peers=[NANAO])
    assert [(s.status, s.reason) for s in outcome.statuses] == [("denied", "no_agreement")]


async def test_a_proposal_whose_document_was_altered_is_refused(fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    view = await agency.agreements.sign(SignedAgreement(fed.agreement(
        provider=NANAO, consumer=AGENCY, agreement_id="agr-2", purpose=PURPOSE,
        types={"EvacuationSite": SITE_ATTRS})))
    message = to_message(view)
    tampered = AgreementMessage(message.document.replace(b'"capacity",', b""),
                                message.signatures)
    with pytest.raises(PeerRejected) as caught:
        await agency.peers()[NANAO].propose_agreement(tampered, 5.0)
    assert (caught.value.status, caught.value.reason) == ("INVALID_ARGUMENT", "bad_signature")
    with pytest.raises(NotFound):
        fed.nodes[NANAO].agreements.get("agr-2")


async def test_the_catalog_describes_what_this_caller_may_see(fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    await fed.agree(provider=NANAO, consumer=AGENCY, agreement_id="agr-1", purpose=PURPOSE,
                    types={"EvacuationSite": SITE_ATTRS}, area=WEST, freshness_seconds=3600)
    catalog = await agency.peers()[NANAO].catalog(PURPOSE, 5.0)
    assert catalog.provider == NANAO
    (dataset,) = catalog.datasets
    assert dataset.identifier == f"{NANAO}/agr-1/EvacuationSite"
    assert dataset.entity_type == "EvacuationSite"
    assert dataset.publisher == "Nanao" and dataset.license == "CC-BY-4.0"
    assert dataset.title and "agr-1" in dataset.description
    assert set(dataset.attributes) == {"id", "type", *SITE_ATTRS}
    assert dataset.spatial == WEST
    assert dataset.accrual_periodicity == "PT1H"
    assert dataset.agreement_id == "agr-1" and not dataset.aggregate_only
    # The count is what the caller may see: only the shelters inside the agreed area.
    assert dataset.entity_count == 5
    # Another purpose: nothing on offer.
    assert (await agency.peers()[NANAO].catalog("tourism", 5.0)).datasets == ()
