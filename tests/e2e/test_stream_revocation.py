"""An open Subscribe stream ends within seconds of the provider learning of a revocation:
the agreement revoked (by the provider's operator or by the consumer), or the member revoked
in a new directory. Real gRPC on loopback; the stream is held open by heartbeats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.demo.harness import LocalFederation, NodeSpec
from broker.errors import PeerRejected
from broker.service.model import SubscribeRequest

CITY, AGENCY = "jp-172022", "jp-gov-bousai"
PURPOSE = "disaster_response"


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    federation = LocalFederation(tmp_path)
    try:
        await federation.start_authority()
        await federation.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao", http=False))
        await federation.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet", http=False))
        await federation.publish()
        await federation.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-1",
                               purpose=PURPOSE, types={"EvacuationSite": ["capacity"]})
        yield federation
    finally:
        await federation.stop()


async def held_until_refused(fed: LocalFederation, revoke: object) -> PeerRejected:
    channel = fed.nodes[AGENCY].peers()[CITY]
    stream = channel.subscribe(SubscribeRequest(
        types=("EvacuationSite",), purpose=PURPOSE, agreement_id="agr-1",
        heartbeat_seconds=1), timeout=60)
    try:
        assert (await anext(stream)).kind == "heartbeat"  # open
        await revoke()  # type: ignore[operator]
        with pytest.raises(PeerRejected) as ended:
            # Heartbeats until the provider notices; far less than a minute.
            async with asyncio.timeout(15):
                while True:
                    await anext(stream)
        return ended.value
    finally:
        await stream.aclose()


async def test_revoking_the_agreement_at_the_provider_ends_the_stream(
        fed: LocalFederation) -> None:
    async def revoke() -> None:
        await fed.nodes[CITY].agreements.revoke("agr-1", "ended by the city")

    ended = await held_until_refused(fed, revoke)
    assert (ended.status, ended.reason) == ("PERMISSION_DENIED", "agreement_not_active")


async def test_revoking_the_agreement_at_the_consumer_ends_the_stream(
        fed: LocalFederation) -> None:
    async def revoke() -> None:
        await fed.nodes[AGENCY].exchange.revoke("agr-1", "no longer needed")

    ended = await held_until_refused(fed, revoke)
    assert (ended.status, ended.reason) == ("PERMISSION_DENIED", "agreement_not_active")


async def test_revoking_the_member_in_a_new_directory_ends_the_stream(
        fed: LocalFederation) -> None:
    async def revoke() -> None:
        assert fed.authority is not None
        fed.authority.authority.revoke(AGENCY)
        fed.authority.authority.publish(fed.clock.now())
        await fed.nodes[CITY].refresh_directory()

    ended = await held_until_refused(fed, revoke)
    assert (ended.status, ended.reason) == ("UNAUTHENTICATED", "member_revoked")
