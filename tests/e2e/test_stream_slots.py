"""Stream slots are freed when a reader stops reading (issue 12: 16 unread Query streams held
one member's 16 slots for over a minute). Real gRPC on loopback; [federation]
stream_stall_seconds = 1, max_streams_per_peer = 4."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from broker.demo.harness import LocalFederation, NodeSpec
from broker.errors import PeerRejected
from broker.federation.grpc_client import PeerChannel
from broker.service.entity_write import entity_write
from broker.service.model import EntityBatch, FederatedQuery

CITY, AGENCY, PURPOSE = "jp-172022", "jp-gov-bousai", "disaster_response"
SITES = 3000  # of 4 KiB each: far more than flow control lets in flight
SLOTS = 4


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    city_toml = (f"[federation]\nbatch_size = 8\nstream_stall_seconds = 1.0\n"
                 f"max_streams_per_peer = {SLOTS}\n")
    federation = LocalFederation(tmp_path)
    try:
        await federation.start_authority()
        await federation.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao", http=False,
                                           extra_toml=city_toml))
        await federation.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet", http=False))
        await federation.publish()
        await federation.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-1",
                               purpose=PURPOSE, types={"EvacuationSite": ["capacity", "name"]})
        await federation.nodes[CITY].store.upsert_entities([entity_write({
            "id": f"urn:ngsi-ld:EvacuationSite:{CITY}:{i:05d}", "type": "EvacuationSite",
            "name": {"type": "Property", "value": "避" * 1400},
            "capacity": {"type": "Property", "value": i}}) for i in range(SITES)], time.time())
        yield federation
    finally:
        await federation.stop()


def query(channel: PeerChannel) -> Any:
    return channel.query(FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE,
                                        agreement_id="agr-1", limit=SITES), timeout=120)


async def first_batch(channel: PeerChannel) -> Any:
    stream = query(channel)
    assert isinstance(await anext(stream), EntityBatch)
    return stream


async def test_streams_whose_reader_stopped_free_their_slots(fed: LocalFederation) -> None:
    peers = fed.nodes[AGENCY].peers()[CITY]
    # Each stalled stream on a connection of its own, as separate consumer processes would.
    channels = [PeerChannel(peers.address, peers._tokens, peers._max) for _ in range(SLOTS + 1)]
    stalled = [await first_batch(c) for c in channels[:SLOTS]]  # then never read again
    try:
        # While they are held, another stream is refused...
        with pytest.raises(PeerRejected) as refused:
            await first_batch(channels[SLOTS])
        assert refused.value.reason == "too_many_streams"
        # ...and once the provider has ended the stalled ones, it is served.
        loop = asyncio.get_running_loop()
        end = loop.time() + 20
        while True:
            try:
                fresh = await first_batch(channels[SLOTS])
                break
            except PeerRejected as exc:
                assert exc.reason == "too_many_streams"
                assert loop.time() < end, "the stalled streams still hold every slot"
                await asyncio.sleep(0.5)
        await fresh.aclose()
        # A stalled reader that resumes learns why its stream ended.
        with pytest.raises(PeerRejected) as ended:
            async for _ in stalled[0]:
                pass
        assert ended.value.reason == "stream_stalled"
    finally:
        for s in stalled:
            await s.aclose()
        for c in channels:
            await c.close()
