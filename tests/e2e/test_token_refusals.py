"""Refusals over real gRPC on loopback (issue 12): token edge cases, and the budgets of
calls (Catalog, refused calls, witness checkpoints)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from broker.demo.harness import LocalFederation, NodeSpec
from broker.errors import PeerRejected
from broker.federation._pb import federation_pb2 as pb
from broker.federation.status import reason_of
from broker.service.model import GetRequest
from trust.canonical import canonical_bytes
from trust.tokens import TOKEN_TYP

CITY, AGENCY, STRANGER = "jp-172022", "jp-gov-bousai", "jp-172049"
PURPOSE = "disaster_response"
SERVICE = "/renkei.federation.v1.Federation/"


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    federation = LocalFederation(tmp_path)
    try:
        await federation.start_authority()
        for member, role in ((CITY, "city"), (AGENCY, "agency")):
            await federation.add_node(NodeSpec(member, role, member, member, http=False))
        await federation.publish()
        await federation.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-1",
                               purpose=PURPOSE, types={"EvacuationSite": ["capacity"]})
        yield federation
    finally:
        await federation.stop()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def _catalog_with(fed: LocalFederation, token: str) -> grpc.aio.AioRpcError:
    channel = fed.nodes[AGENCY].peers()[CITY]
    await channel._stub(5.0)
    assert channel._channel is not None
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await channel._channel.unary_unary(SERVICE + "Catalog")(
            pb.CatalogRequest(purpose=PURPOSE).SerializeToString(),
            metadata=(("authorization", "Bearer " + token),), timeout=10)
    return refused.value


@pytest.mark.parametrize("kid_bytes, payload_bytes", [(10_000, 0), (0, 100_000)])
async def test_an_oversized_kid_or_token_is_malformed_token(
        fed: LocalFederation, kid_bytes: int, payload_bytes: int) -> None:
    header = {"alg": "ES256", "typ": "JWT", "kid": "k" * max(kid_bytes, 1)}
    claims = {"iss": AGENCY, "sub": AGENCY, "aud": CITY, "pad": "p" * payload_bytes}
    token = ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()),
                      _b64(b"s" * 64)))
    error = await _catalog_with(fed, token)
    assert (error.code(), reason_of(error)) == (grpc.StatusCode.UNAUTHENTICATED,
                                                "malformed_token"), error


@pytest.mark.parametrize("subject", [CITY, STRANGER])
async def test_a_token_whose_sub_names_another_member_is_refused(
        fed: LocalFederation, subject: str) -> None:
    # Issue 12: a validly signed token of the agency naming another member in ``sub`` was
    # accepted with its sub ignored. The directory names no member acting for another.
    agency = fed.nodes[AGENCY]
    now = int(fed.clock.now())
    claims = {"iss": AGENCY, "sub": subject, "aud": CITY, "iat": now, "nbf": now,
              "exp": now + 60, "jti": secrets.token_urlsafe(18), "agr": "agr-1"}
    token = agency.identity.key.sign_compact(canonical_bytes(claims), TOKEN_TYP)
    error = await _catalog_with(fed, token)
    assert (error.code(), reason_of(error)) == (grpc.StatusCode.UNAUTHENTICATED,
                                                "issuer_mismatch"), error
    # The same token with sub = iss is answered: the refusal is the sub, not the crafting.
    claims.update(sub=AGENCY, jti=secrets.token_urlsafe(18))
    channel = agency.peers()[CITY]
    assert channel._channel is not None
    reply = await channel._channel.unary_unary(SERVICE + "Catalog")(
        pb.CatalogRequest(purpose=PURPOSE).SerializeToString(), metadata=((
            "authorization", "Bearer " + agency.identity.key.sign_compact(
                canonical_bytes(claims), TOKEN_TYP)),), timeout=10)
    assert pb.CatalogResponse.FromString(reply).datasets


async def _catalog(fed: LocalFederation, member: str) -> tuple[str, str] | None:
    """None if the catalog came back, else the refusal's (status, reason)."""
    try:
        await fed.nodes[member].peers()[CITY].catalog(PURPOSE, 5.0)
    except PeerRejected as exc:
        return exc.status, exc.reason
    return None


async def test_catalog_counts_against_the_agreements_request_rate(tmp_path: Path) -> None:
    # Issue 12: ten Catalog calls under a 3-per-minute agreement were all answered.
    federation = LocalFederation(tmp_path)
    try:
        await federation.start_authority()
        for member, role in ((CITY, "city"), (AGENCY, "agency")):
            await federation.add_node(NodeSpec(member, role, member, member, http=False))
        await federation.publish()
        await federation.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-1",
                               purpose=PURPOSE, types={"EvacuationSite": ["capacity"]},
                               requests_per_minute=3)
        errors = [await _catalog(federation, AGENCY) for _ in range(10)]
        assert errors[:3] == [None, None, None]
        assert errors[3:] == [("RESOURCE_EXHAUSTED", "rate_limited")] * 7
    finally:
        await federation.stop()


async def _get(fed: LocalFederation, member: str, attrs: tuple[str, ...] = (),
               agreement_id: str = "") -> tuple[str, str]:
    """The refusal of a GetEntity call (status, reason); ('OK', '') if it was answered."""
    request = GetRequest(id="urn:ngsi-ld:EvacuationSite:nowhere", attrs=attrs, purpose=PURPOSE,
                         agreement_id=agreement_id)
    try:
        await fed.nodes[member].peers()[CITY].get_entity(request, 5.0)
    except PeerRejected as exc:
        return exc.status, exc.reason
    return "OK", ""


async def test_refused_calls_count_against_the_callers_limits(tmp_path: Path) -> None:
    # Issue 12: refusals were not rate-limited, so a member without an agreement (or one
    # asking for what its agreement hides) could make the node decide and audit any number
    # of calls. Refusals now count: under the agreement against its request rate, and
    # against the member's refused-calls budget ([federation] refused_calls_per_minute).
    federation = LocalFederation(tmp_path)
    try:
        await federation.start_authority()
        for member, role in ((CITY, "city"), (AGENCY, "agency"), (STRANGER, "city")):
            await federation.add_node(NodeSpec(member, role, member, member, http=False))
        await federation.publish()
        await federation.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-1",
                               purpose=PURPOSE, types={"EvacuationSite": ["capacity"]},
                               requests_per_minute=3)
        hidden = [await _get(federation, AGENCY, ("phone",), "agr-1") for _ in range(3)]
        assert hidden == [("PERMISSION_DENIED", "field_not_allowed")] * 3
        # The three refusals spent the agreement's minute: an allowed call is now limited.
        assert await _get(federation, AGENCY, agreement_id="agr-1") == (
            "RESOURCE_EXHAUSTED", "rate_limited")
        budget = 60  # the default of [federation] refused_calls_per_minute
        refused = [await _get(federation, STRANGER) for _ in range(budget + 3)]
        assert refused[:budget] == [("PERMISSION_DENIED", "no_agreement")] * budget
        assert refused[budget:] == [("RESOURCE_EXHAUSTED", "rate_limited")] * 3
        # A spent budget refuses every call of the member, the catalog too.
        assert (await _catalog(federation, STRANGER)) == ("RESOURCE_EXHAUSTED", "rate_limited")
    finally:
        await federation.stop()


async def test_a_witness_takes_at_most_its_budget_of_checkpoints_a_minute(
        fed: LocalFederation) -> None:
    # Issue 12: AddCheckpoint had no rate limit: a member could make its witness parse,
    # verify and store checkpoints without end. Past [trust] witness_checkpoints_per_minute
    # (60) they are refused before parsing. The agency's own witnessing loop may have
    # submitted one already this minute, hence "at most".
    channel = fed.nodes[AGENCY].peers()[CITY]
    outcomes = []
    for n in range(70):
        try:
            await channel.add_checkpoint(b"not a checkpoint %d" % n, 5.0)
            outcomes.append(("OK", ""))
        except PeerRejected as exc:
            outcomes.append((exc.status, exc.reason))
    invalid = outcomes.count(("INVALID_ARGUMENT", "invalid_request"))
    assert 55 <= invalid <= 60 and outcomes[:invalid] == [outcomes[0]] * invalid, outcomes
    assert outcomes[invalid:] == [("RESOURCE_EXHAUSTED", "rate_limited")] * (70 - invalid)
