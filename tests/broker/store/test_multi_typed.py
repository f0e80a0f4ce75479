"""Entities with several types (NGSI-LD 4.16) in the store's type index, on both backends.

A type query must find an entity by any of its types, once; counts and the type list count it
under each; a write that drops a type takes the entity out of that type's pages; and a
subscriber reading the change feed by type hears of a multi-typed entity whatever its first
type is.
"""

from __future__ import annotations

from typing import Any

from broker.service.entity_write import entity_write
from broker.store.base import EntityFilter, Store


def _doc(n: int, types: str | list[str], x: float = 136.9) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Thing:{n:03d}", "type": types,
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [x, 37.0]}}}


async def _ids(store: Store, flt: EntityFilter, chunk: int = 500) -> list[str]:
    return [e.id async for e in store.scan_entities(flt, chunk)]


async def test_a_type_query_finds_an_entity_by_any_of_its_types_once(
        store_on_each_backend: Store) -> None:
    store = store_on_each_backend
    await store.upsert_entities([
        entity_write(_doc(1, "Building")),
        entity_write(_doc(2, ["Building", "Vehicle"])),
        entity_write(_doc(3, ["Vehicle", "Car"])),
        entity_write(_doc(4, "Car")),
    ], now=1.0)
    assert await _ids(store, EntityFilter(types=("Vehicle",))) == [
        "urn:ngsi-ld:Thing:002", "urn:ngsi-ld:Thing:003"]
    # Two of the types asked for: still one row per entity, in id order.
    assert await _ids(store, EntityFilter(types=("Building", "Vehicle"))) == [
        "urn:ngsi-ld:Thing:001", "urn:ngsi-ld:Thing:002", "urn:ngsi-ld:Thing:003"]
    # Paged in chunks of one, the keyset still walks every match once.
    assert await _ids(store, EntityFilter(types=("Car",)), chunk=1) == [
        "urn:ngsi-ld:Thing:003", "urn:ngsi-ld:Thing:004"]
    assert await _ids(store, EntityFilter(types=("Vehicle",), ids=("urn:ngsi-ld:Thing:003",
                                                                   "urn:ngsi-ld:Thing:004"))) \
        == ["urn:ngsi-ld:Thing:003"]
    assert await _ids(store, EntityFilter(types=("Car",), bbox=(136.8, 36.9, 137.0, 37.1))) \
        == ["urn:ngsi-ld:Thing:003", "urn:ngsi-ld:Thing:004"]
    assert await _ids(store, EntityFilter(types=("Car",), id_prefix="urn:ngsi-ld:Thing:00")) \
        == ["urn:ngsi-ld:Thing:003", "urn:ngsi-ld:Thing:004"]
    assert await store.count_entities(("Vehicle",)) == 2
    assert await store.count_entities(("Building", "Vehicle")) == 3
    assert await store.entity_types() == {"Building": 2, "Car": 2, "Vehicle": 2}
    stored = await store.get_entity("urn:ngsi-ld:Thing:003")
    assert stored is not None and stored.type == "Vehicle"


async def test_a_write_that_changes_the_types_moves_the_entity_between_type_pages(
        store_on_each_backend: Store) -> None:
    store = store_on_each_backend
    await store.upsert_entities([entity_write(_doc(1, ["Building", "Vehicle"]))], now=1.0)
    await store.upsert_entities([entity_write(_doc(1, "Building", x=137.0))], now=2.0)
    assert await _ids(store, EntityFilter(types=("Vehicle",))) == []
    assert await _ids(store, EntityFilter(types=("Building",))) == ["urn:ngsi-ld:Thing:001"]
    # The other way: a single-typed entity gaining a type (the one-at-a-time write path too,
    # taken when a batch repeats an id).
    await store.upsert_entities([entity_write(_doc(1, "Building", x=1.0)),
                                 entity_write(_doc(1, ["Car", "Building"], x=2.0))], now=3.0)
    assert await _ids(store, EntityFilter(types=("Car",))) == ["urn:ngsi-ld:Thing:001"]
    assert await store.entity_types() == {"Building": 1, "Car": 1}
    assert await store.delete_entity("urn:ngsi-ld:Thing:001", now=4.0)
    assert await _ids(store, EntityFilter(types=("Car",))) == []
    assert await store.entity_types() == {}


async def test_the_change_feed_by_type_includes_multi_typed_entities(
        store_on_each_backend: Store) -> None:
    store = store_on_each_backend
    await store.upsert_entities([entity_write(_doc(1, ["Building", "Vehicle"])),
                                 entity_write(_doc(2, "Building")),
                                 entity_write(_doc(3, "Vehicle"))], now=1.0)
    await store.create_entity(entity_write(_doc(4, ["Car", "Vehicle"])), now=2.0)
    await store.delete_entity("urn:ngsi-ld:Thing:001", now=3.0)
    changes = await store.changes_after(0, ("Vehicle",))
    assert [(c.kind, c.entity_id) for c in changes] == [
        ("created", "urn:ngsi-ld:Thing:001"), ("created", "urn:ngsi-ld:Thing:003"),
        ("created", "urn:ngsi-ld:Thing:004"), ("deleted", "urn:ngsi-ld:Thing:001")]
    # Single-typed entities of other types stay out (multi-typed ones come, for the reader
    # to check their types: the feed's rows name only the first type).
    cars = {c.entity_id for c in await store.changes_after(0, ("Car",))}
    assert "urn:ngsi-ld:Thing:004" in cars
    assert not cars & {"urn:ngsi-ld:Thing:002", "urn:ngsi-ld:Thing:003"}
