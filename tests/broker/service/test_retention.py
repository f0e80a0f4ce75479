"""Temporal retention ([temporal] retention_days, retention_days_by_type) on both backends:
what a pass deletes, and that a node runs it as a supervised loop."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import orjson

from broker.service.retention import DAY, prune_history, retention_loop
from broker.store.base import EntityWrite, InstanceWindow, Store
from trust.clock import ManualClock

NOW = 1_800_000_000.0


def _write(entity_id: str, entity_type: str, value: int) -> EntityWrite:
    doc = {"id": entity_id, "type": entity_type,
           "occupancy": {"type": "Property", "value": value}}
    raw = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    return EntityWrite(entity_id, entity_type, raw, hashlib.sha256(raw).hexdigest())


async def _history(store: Store) -> None:
    """Three types, each with an instance recorded 40 days ago and one 5 days ago."""
    for age_days, value in ((40, 1), (5, 2)):
        await store.upsert_entities(
            [_write(f"urn:ngsi-ld:{t}:1", t, value) for t in ("Shelter", "Sensor", "Road")],
            now=NOW - age_days * DAY)


async def _values(store: Store, entity_id: str) -> list[Any]:
    rows = await store.temporal_instances(entity_id, InstanceWindow(attrs=("occupancy",)))
    return [orjson.loads(r.doc)["value"] for r in rows]


async def test_a_pass_deletes_what_is_older_than_its_types_retention(
        store_on_each_backend: Store) -> None:
    store = store_on_each_backend
    await _history(store)
    # Default 30 days; Sensor 3 days; Road kept for ever (0).
    removed = await prune_history(store, NOW, 30.0, {"Sensor": 3.0, "Road": 0.0})
    assert removed == 3
    assert await _values(store, "urn:ngsi-ld:Shelter:1") == [2]
    assert await _values(store, "urn:ngsi-ld:Sensor:1") == []
    assert await _values(store, "urn:ngsi-ld:Road:1") == [1, 2]
    # The current entities are not history: they stay.
    assert await store.count_entities() == 3
    # Nothing is kept for ever by default when retention_days is 0 but a type has its own.
    assert await prune_history(store, NOW, 0.0, {"Road": 10.0}) == 1
    assert await _values(store, "urn:ngsi-ld:Road:1") == [2]


async def test_the_loop_prunes_at_once_and_again_each_interval(
        store_on_each_backend: Store) -> None:
    store = store_on_each_backend
    await _history(store)
    clock = ManualClock(NOW)
    task = asyncio.create_task(retention_loop(store, clock, 30.0, {}, interval=0.05))
    try:
        for _ in range(200):
            if await _values(store, "urn:ngsi-ld:Shelter:1") == [2]:
                break
            await asyncio.sleep(0.02)
        assert await _values(store, "urn:ngsi-ld:Shelter:1") == [2]
        clock.advance(26 * DAY)  # the newer instance is now 31 days old
        for _ in range(200):
            if await _values(store, "urn:ngsi-ld:Shelter:1") == []:
                break
            await asyncio.sleep(0.02)
        assert await _values(store, "urn:ngsi-ld:Shelter:1") == []
        assert not task.done()
    finally:
        task.cancel()
