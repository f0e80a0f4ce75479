"""A subscriber hears only of deletions of entities it was allowed to see."""

from __future__ import annotations

from pathlib import Path

import orjson

from broker.provider.change_stream import change_stream
from broker.provider.cursor_tokens import CursorTokens
from broker.service.changes import ChangeSignal
from broker.service.entity_write import entity_write
from broker.service.model import SubscribeRequest
from broker.store.sqlite import SqliteStore
from trust.clock import SystemClock
from trust.enforce import FieldMask
from trust.geo import Area


def site(n: int, lon: float) -> dict[str, object]:
    return {"id": f"urn:ngsi-ld:EvacuationSite:jp-1:{n}", "type": "EvacuationSite",
            "capacity": {"type": "Property", "value": n},
            "location": {"type": "GeoProperty", "value": {"type": "Point",
                                                          "coordinates": [lon, 37.0]}}}


async def test_deletions_outside_the_area_or_filter_are_not_sent(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "n.db")
    await store.open()
    try:
        inside, outside, stays = site(1, 136.9), site(2, 140.0), site(3, 136.8)
        await store.upsert_entities([entity_write(e) for e in (inside, outside, stays)],
                                    now=1.0)
        await store.delete_entity(str(inside["id"]), now=2.0)
        await store.delete_entity(str(outside["id"]), now=3.0)
        area = Area([136.0, 36.0, 137.5, 38.0])
        clock = SystemClock()
        events = []
        stream = change_stream(store, ChangeSignal(), clock, SubscribeRequest(
            types=("EvacuationSite",), heartbeat_seconds=1), FieldMask(
            {"EvacuationSite": ["capacity", "location"]}), area, expires_at=clock.now() + 60,
            tokens=CursorTokens(store), poll_seconds=0.01)
        async for event in stream:
            if event.kind == "heartbeat":
                break
            events.append((event.kind, event.entity_id, event.entity))
        await stream.aclose()
        # created 1 and 2 are skipped (deleted since); deleted 2 is outside the area
        assert [(k, i) for k, i, _ in events] == [("created", stays["id"]),
                                                  ("deleted", inside["id"])]
        assert orjson.loads(events[0][2])["capacity"]["value"] == 3
        assert events[1][2] == b""  # the last state is for the check, never sent
    finally:
        await store.close()
