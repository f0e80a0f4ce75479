"""A subscriber's cursors count nothing it may not see (issue 12, leaks through subscriptions).

Before, each change event carried its position in the provider's change feed, which counts
every change of the node: the gap between two events a subscriber got was the number of
changes it could not see in between (hidden attributes, other types, outside its area). Real
gRPC Subscribe on loopback between a city and an agency; the agreement shares ``capacity``
of shelters only.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from broker.demo.harness import LocalFederation
from broker.errors import PeerRejected
from broker.provider.cursor_tokens import CursorTokens
from broker.service.entity_write import entity_write
from broker.service.model import ChangeEvent, SubscribeRequest

from .conftest import AGENCY, CITY, PURPOSE, city_and_agency

INVISIBLE = 37


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    async with city_and_agency(tmp_path, "agr-1", {"EvacuationSite": ["capacity"]}) as f:
        yield f


def site(n: int, *, phone: str = "0767-00-0000") -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:EvacuationSite:{CITY}:{n}", "type": "EvacuationSite",
            "capacity": {"type": "Property", "value": n},
            "telephone": {"type": "Property", "value": phone}}


def occupancy(n: int) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:ShelterOccupancy:{CITY}:{n}", "type": "ShelterOccupancy",
            "occupancy": {"type": "Property", "value": n}}


async def write(fed: LocalFederation, *entities: dict[str, Any]) -> None:
    await fed.nodes[CITY].store.upsert_entities([entity_write(e) for e in entities],
                                                time.time())


async def until_heartbeat(fed: LocalFederation, after: int = 0, *, from_now: bool = False,
                          opaque: bool = True) -> list[ChangeEvent]:
    """Every event of one Subscribe up to its first heartbeat after the changes."""
    channel = fed.nodes[AGENCY].peers()[CITY]
    stream = channel.subscribe(SubscribeRequest(
        types=("EvacuationSite",), purpose=PURPOSE, agreement_id="agr-1", after_cursor=after,
        heartbeat_seconds=1, from_now=from_now, opaque_cursors=opaque), timeout=60)
    events = []
    try:
        async for event in stream:
            events.append(event)
            if event.kind == "heartbeat" and not (from_now and len(events) == 1):
                return events
    finally:
        await stream.aclose()
    return events


async def test_cursors_are_not_feed_positions_and_count_no_invisible_change(
        fed: LocalFederation) -> None:
    await write(fed, site(1))
    first = await until_heartbeat(fed)
    assert [e.kind for e in first] == ["created", "heartbeat"]
    t1 = first[0].cursor
    assert first[1].cursor == t1  # a heartbeat repeats the last change sent
    # Changes the agency may not see: the hidden telephone alone, and another type.
    for i in range(INVISIBLE // 2):
        await write(fed, site(1, phone=f"0767-11-{i:04d}"))
    await write(fed, *(occupancy(i) for i in range(INVISIBLE - INVISIBLE // 2)))
    await write(fed, site(2))
    second = await until_heartbeat(fed, t1)
    assert [(e.kind, e.entity_id[-1:]) for e in second] == [("created", "2"), ("heartbeat", "")]
    t2 = second[0].cursor
    positions = {c.cursor for c in await fed.nodes[CITY].store.changes_after(0, (), 10_000)}
    assert len(positions) == 2 + INVISIBLE
    received = {e.cursor for e in first + second}
    assert not received & positions, "a cursor the subscriber got is a feed position"
    assert t2 - t1 != INVISIBLE + 1  # what the old cursors told: the count in between
    # The tokens still resume exactly: after t2 nothing, after t1 the second site again.
    assert [(e.kind, e.cursor) for e in await until_heartbeat(fed, t2)] == [("heartbeat", t2)]
    again = await until_heartbeat(fed, t1)
    assert [e.entity_id for e in again if e.kind != "heartbeat"] == [second[0].entity_id]
    # Only the node's own key opens them (the test holds it, as every replica does).
    tokens = CursorTokens(fed.nodes[CITY].store)
    assert [await tokens.open(t) for t in (t1, t2)] == sorted(positions)[:1] + [max(positions)]


async def test_a_from_now_stream_is_told_no_feed_position(fed: LocalFederation) -> None:
    await write(fed, *(occupancy(i) for i in range(INVISIBLE)))
    one = (await until_heartbeat(fed, from_now=True))[0]
    two = (await until_heartbeat(fed, from_now=True))[0]
    # Before: the head rounded down, equal for both and telling the feed's size; now two
    # fresh tokens, so not even "nothing happened in between" can be read from them.
    assert one.kind == two.kind == "heartbeat"
    assert one.cursor != two.cursor
    assert not {one.cursor, two.cursor} & set(range(INVISIBLE + 1))
    await write(fed, site(5))
    after = await until_heartbeat(fed, one.cursor)
    assert [e.entity_id[-1:] for e in after if e.kind != "heartbeat"] == ["5"]


async def test_cursors_that_are_not_this_nodes_tokens_are_refused(fed: LocalFederation) -> None:
    await write(fed, site(1))
    token = (await until_heartbeat(fed))[0].cursor
    for forged in (token ^ 1, 5, 1):  # a tampered token; positions never given out
        with pytest.raises(PeerRejected) as refused:
            await until_heartbeat(fed, forged)
        assert (refused.value.status, refused.value.reason) == (
            "INVALID_ARGUMENT", "invalid_cursor"), forged
    # A subscriber that would compare tokens as numbers is refused, not served wrong.
    with pytest.raises(PeerRejected) as old:
        await until_heartbeat(fed, opaque=False)
    assert (old.value.status, old.value.reason) == ("INVALID_ARGUMENT",
                                                    "opaque_cursors_required")
