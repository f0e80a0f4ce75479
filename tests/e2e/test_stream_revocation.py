"""An open Subscribe stream ends within seconds of the provider learning of a revocation:
the agreement revoked (by the provider's operator or by the consumer), the member or only the
key its token was signed with revoked in a new directory, or its token expired. Real gRPC on
loopback; the stream is held open by heartbeats. An open Query stream ends the same way,
between two batches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.demo.harness import LocalFederation
from broker.errors import PeerRejected
from broker.service.entity_write import entity_write
from broker.service.model import EntityBatch, FederatedQuery, QuerySummary, SubscribeRequest
from trust.clock import ManualClock

from .conftest import AGENCY, CITY, PURPOSE, city_and_agency


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    async with city_and_agency(tmp_path, "agr-1", {"EvacuationSite": ["capacity"]}) as f:
        yield f


async def held_until_refused(fed: LocalFederation, revoke: object) -> PeerRejected:
    channel = fed.nodes[AGENCY].peers()[CITY]
    # from_now: the stream opens with a heartbeat also under a clock that does not move.
    stream = channel.subscribe(SubscribeRequest(
        types=("EvacuationSite",), purpose=PURPOSE, agreement_id="agr-1",
        heartbeat_seconds=1, from_now=True), timeout=60)
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


async def revoke_agency_key(fed: LocalFederation) -> None:
    """A new directory revokes the key the agency signs its tokens with (the member stays)."""
    assert fed.authority is not None
    fed.authority.authority.revoke(AGENCY, fed.nodes[AGENCY].identity.key.kid)
    fed.authority.authority.publish(fed.clock.now())
    await fed.nodes[CITY].refresh_directory()


async def test_revoking_the_callers_key_in_a_new_directory_ends_the_stream(
        fed: LocalFederation) -> None:
    ended = await held_until_refused(fed, lambda: revoke_agency_key(fed))
    assert (ended.status, ended.reason) == ("UNAUTHENTICATED", "key_revoked")


@pytest.fixture
async def manual(tmp_path: Path) -> AsyncIterator[tuple[LocalFederation, ManualClock]]:
    clock = ManualClock(time.time())
    async with city_and_agency(tmp_path, "agr-1", {"EvacuationSite": ["capacity", "name"]},
                               city_toml="[federation]\nbatch_size = 8\n",
                               clock=clock) as federation:
        await seed_sites(federation)
        yield federation, clock


async def test_token_expiry_ends_an_open_subscribe_stream(
        manual: tuple[LocalFederation, ManualClock]) -> None:
    fed, clock = manual

    async def expire() -> None:
        clock.advance(fed.nodes[AGENCY].config.trust.token_lifetime_seconds + 1)

    ended = await held_until_refused(fed, expire)
    assert (ended.status, ended.reason) == ("UNAUTHENTICATED", "token_expired")


# -- Query streams: the caller's standing is checked before every batch ---------------------

SITES = 6000


@pytest.fixture
async def big(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    """The city holds many shelters and sends them in small batches: a Query is a long
    stream, and the consumer below stops reading after the first batch."""
    async with city_and_agency(tmp_path, "agr-1", {"EvacuationSite": ["capacity", "name"]},
                               city_toml="[federation]\nbatch_size = 8\n") as federation:
        await seed_sites(federation)
        yield federation


async def seed_sites(fed: LocalFederation) -> None:
    await fed.nodes[CITY].store.upsert_entities([entity_write({
        "id": f"urn:ngsi-ld:EvacuationSite:{CITY}:{i:05d}", "type": "EvacuationSite",
        "name": {"type": "Property", "value": "避難所" * 40},
        "capacity": {"type": "Property", "value": i}}) for i in range(SITES)], time.time())


async def query_until_refused(fed: LocalFederation, revoke: object) -> tuple[PeerRejected, int]:
    channel = fed.nodes[AGENCY].peers()[CITY]
    stream = channel.query(FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE,
                                          agreement_id="agr-1", limit=SITES), timeout=60)
    received = 0
    try:
        first = await anext(stream)
        assert isinstance(first, EntityBatch)
        received += len(first.entities)
        await revoke()  # type: ignore[operator]
        with pytest.raises(PeerRejected) as ended:
            async with asyncio.timeout(15):
                async for item in stream:
                    assert not isinstance(item, QuerySummary), "the whole page was answered"
                    received += len(item.entities)
        return ended.value, received
    finally:
        await stream.aclose()


async def test_revoking_the_agreement_ends_an_open_query_stream(big: LocalFederation) -> None:
    async def revoke() -> None:
        await big.nodes[CITY].agreements.revoke("agr-1", "ended by the city")

    ended, received = await query_until_refused(big, revoke)
    assert (ended.status, ended.reason) == ("PERMISSION_DENIED", "agreement_not_active")
    assert received < SITES


async def test_revoking_the_member_ends_an_open_query_stream(big: LocalFederation) -> None:
    async def revoke() -> None:
        assert big.authority is not None
        big.authority.authority.revoke(AGENCY)
        big.authority.authority.publish(big.clock.now())
        await big.nodes[CITY].refresh_directory()

    ended, received = await query_until_refused(big, revoke)
    assert (ended.status, ended.reason) == ("UNAUTHENTICATED", "member_revoked")
    assert received < SITES


async def test_revoking_the_callers_key_ends_an_open_query_stream(big: LocalFederation) -> None:
    ended, received = await query_until_refused(big, lambda: revoke_agency_key(big))
    assert (ended.status, ended.reason) == ("UNAUTHENTICATED", "key_revoked")
    assert received < SITES


async def test_token_expiry_ends_an_open_query_stream(
        manual: tuple[LocalFederation, ManualClock]) -> None:
    fed, clock = manual

    async def expire() -> None:
        clock.advance(fed.nodes[AGENCY].config.trust.token_lifetime_seconds + 1)

    ended, received = await query_until_refused(fed, expire)
    assert (ended.status, ended.reason) == ("UNAUTHENTICATED", "token_expired")
    assert received < SITES
