"""The provider's pre-serialized index streams exactly the bytes the parse-mask-serialize path
streams: same entities, same order, same field mask, same area decisions (boundaries too)."""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import pytest

from broker.provider.calls import select_entities
from broker.provider.entity_index import EntityIndex
from broker.provider.query import EntityQuery
from broker.service.entity_write import entity_write
from broker.service.filters import And, Comparison, Near, Within
from broker.service.query import any_of
from broker.store.sqlite import SqliteStore
from trust.enforce import FieldMask
from trust.geo import Area

POLYGON = {"type": "Polygon", "coordinates": [[[136.90, 37.00], [137.00, 37.00],
                                               [137.00, 37.05], [136.95, 37.10],
                                               [136.90, 37.05], [136.90, 37.00]]]}
MULTI = {"type": "MultiPolygon", "coordinates": [
    [[[136.90, 37.00], [136.93, 37.00], [136.93, 37.03], [136.90, 37.03], [136.90, 37.00]]],
    [[[136.96, 37.06], [136.99, 37.06], [136.99, 37.09], [136.96, 37.09], [136.96, 37.06]]]]}
AREAS = [None, Area(POLYGON), Area([136.92, 37.01, 136.98, 37.08]), Area(MULTI)]
MASKS = [
    FieldMask({"EvacuationSite": ["name", "location", "capacity"],
               "ShelterOccupancy": ["occupancy"]}),
    FieldMask({"EvacuationSite": ["name", "location", "capacity", "telephone", "note",
                                  "address", "suitableFor", "extra"],
               "ShelterOccupancy": ["occupancy", "refEvacuationSite"]}),
    FieldMask({"EvacuationSite": ["notThere"]}),
]


def site(n: int, where: Any, **extra: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:EvacuationSite:jp-172022:{n:05d}", "type": "EvacuationSite",
        "name": {"type": "LanguageProperty", "languageMap": {"ja": f"避難所{n}", "en": f"S{n}"}},
        "capacity": {"type": "Property", "value": n % 37 * 10 + 0.5 * (n % 2)},
        "telephone": {"type": "Property", "value": "0767-53-1111"},
        "note": {"type": "Property", "value": "quote \" backslash \\ tab \t 絵文字 🏫"},
    }
    if where is not None:
        entity["location"] = where
    entity.update(extra)
    return entity


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def corpus() -> list[dict[str, Any]]:
    rng = random.Random(7)
    out = []
    for n in range(600):  # random points around (and across) the areas
        out.append(site(n, point(round(136.88 + rng.random() * 0.14, 6),
                                 round(36.98 + rng.random() * 0.14, 6))))
    boundary = [(136.90, 37.00), (137.00, 37.00), (137.00, 37.025), (136.95, 37.10),
                (136.975, 37.075), (136.90, 37.05), (136.92, 37.01), (136.98, 37.08),
                (136.93, 37.03), (136.96, 37.06), (136.945, 37.00)]
    for i, (lon, lat) in enumerate(boundary):  # vertices and edges count as inside
        out.append(site(1000 + i, point(lon, lat)))
    odd: list[Any] = [
        None,                                                     # unlocated
        [point(136.95, 37.02)],                                   # multi-attribute location
        point(True, 37.02),                                       # not a number
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [136.95]}},
        {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [[
            [136.94, 37.01], [136.96, 37.01], [136.96, 37.02], [136.94, 37.01]]]}},
        {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [[
            [136.85, 37.01], [136.96, 37.01], [136.96, 37.02], [136.85, 37.01]]]}},
        {"type": "GeoProperty", "value": {"type": "LineString",
                                          "coordinates": [[136.94, 37.01], [136.95, 37.02]]}},
        {"type": "Property", "value": "somewhere"},
    ]
    for i, where in enumerate(odd):
        out.append(site(2000 + i, where, extra={"type": "Property", "value": {"a": [1, 2.5]}}))
    out.append({**site(3000, point(136.95, 37.02)),
                "type": ["EvacuationSite", "PointOfInterest"]})
    for n in range(40):
        out.append({"id": f"urn:ngsi-ld:ShelterOccupancy:jp-172022:{n:05d}",
                    "type": "ShelterOccupancy",
                    "occupancy": {"type": "Property", "value": n, "observedAt": "2024-01-01"},
                    "refEvacuationSite": {"type": "Relationship",
                                          "object": f"urn:ngsi-ld:EvacuationSite:x:{n}"},
                    "location": point(136.95 + n * 0.001, 37.02)})
    return out


QUERIES = [
    EntityQuery(types=any_of(("EvacuationSite",)), limit=0),
    EntityQuery(types=any_of(("EvacuationSite", "ShelterOccupancy")), limit=0),
    EntityQuery(types=any_of(("EvacuationSite", "ShelterOccupancy")), limit=100,
                after_id="urn:ngsi-ld:EvacuationSite:jp-172022:00300"),
    EntityQuery(types=any_of(("EvacuationSite",)), limit=7),
    EntityQuery(types=any_of(("EvacuationSite",)), q=And((Comparison("capacity", ">", 200),)),
                limit=0),
    EntityQuery(types=any_of(("EvacuationSite",)), geo=Near(136.95, 37.03, 1500.0), limit=0),
    EntityQuery(types=any_of(("EvacuationSite", "ShelterOccupancy")),
                geo=Within({"type": "Polygon", "coordinates": [[
                    [136.93, 37.0], [136.97, 37.0], [136.97, 37.04], [136.93, 37.0]]]}),
                limit=0),
    EntityQuery(types=any_of(("EvacuationSite",)),
                id_pattern="urn:ngsi-ld:EvacuationSite:jp-172022:01.*", limit=0),
    EntityQuery(types=any_of(("EvacuationSite",)), id_pattern=".*:0000[1-5]", limit=0),
    # idPattern is searched: unanchored it matches anywhere in the id; anchored, the index
    # narrows the candidates by its literal prefix.
    EntityQuery(types=any_of(("EvacuationSite", "ShelterOccupancy")), id_pattern="jp-172022:001",
                limit=0),
    EntityQuery(types=any_of(("EvacuationSite", "ShelterOccupancy")),
                id_pattern="^urn:ngsi-ld:ShelterOccupancy:", limit=0),
    EntityQuery(types=any_of(("EvacuationSite", "ShelterOccupancy")),
                ids=("urn:ngsi-ld:ShelterOccupancy:jp-172022:00003",
                     "urn:ngsi-ld:EvacuationSite:jp-172022:02001",
                     "urn:ngsi-ld:EvacuationSite:jp-172022:00010", "urn:nope"), limit=0),
    EntityQuery(types=any_of(("PointOfInterest",)), limit=0),
    # A multi-typed entity is in the pages of each of its types, once in a union of them.
    EntityQuery(types=any_of(("EvacuationSite", "PointOfInterest")), limit=0),
]


@pytest.fixture
async def store(store: SqliteStore) -> SqliteStore:
    """The shared store (tests/conftest.py), seeded with the corpus."""
    await store.upsert_entities([entity_write(e) for e in corpus()], time.time())
    return store


async def both(store: SqliteStore, index: EntityIndex, query: EntityQuery, mask: FieldMask,
               area: Area | None) -> tuple[list[Any], list[Any]]:
    naive = [item async for chunk in select_entities(store, None, query, mask, area)
             for item in chunk]
    fast = [item async for chunk in select_entities(store, index, query, mask, area)
            for item in chunk]
    return naive, fast


async def test_the_index_streams_the_same_bytes_as_parsing_every_entity(
        store: SqliteStore) -> None:
    index = EntityIndex(store)
    compared = 0
    for query, mask, area in itertools.product(QUERIES, MASKS, AREAS):
        naive, fast = await both(store, index, query, mask, area)
        assert fast == naive, (query, mask, area)
        compared += len(naive)
    assert compared > 5000  # the combinations really return data
    assert len(index) == len(corpus())


async def test_the_index_follows_changes_in_the_store(store: SqliteStore) -> None:
    index = EntityIndex(store)
    mask, area = MASKS[0], AREAS[1]
    query = EntityQuery(types=any_of(("EvacuationSite", "ShelterOccupancy")), limit=0)
    naive, fast = await both(store, index, query, mask, area)
    assert fast == naive
    now = time.time()
    moved = site(5, point(136.95, 37.02), capacity={"type": "Property", "value": 999})
    retyped = {**site(6, point(136.95, 37.02)), "type": "ShelterOccupancy"}
    await store.upsert_entities([entity_write(moved), entity_write(retyped),
                                 entity_write(site(9999, point(136.96, 37.03)))], now)
    await store.delete_entity(site(7, None)["id"], now)
    await store.delete_entity(site(8, None)["id"], now)
    await store.upsert_entities([entity_write(site(8, point(136.97, 37.04)))], now)
    naive, fast = await both(store, index, query, mask, area)
    assert fast == naive
    ids = [i for i, _ in fast]
    assert site(7, None)["id"] not in ids and site(9999, None)["id"] in ids


async def test_a_multi_typed_entity_is_found_by_each_of_its_types_once(
        store: SqliteStore) -> None:
    index = EntityIndex(store)
    multi = site(3000, None)["id"]
    mask = FieldMask({"EvacuationSite": ["name"], "PointOfInterest": ["name"]})
    for types in (("PointOfInterest",), ("EvacuationSite",),
                  ("EvacuationSite", "PointOfInterest")):
        naive, fast = await both(store, index, EntityQuery(types=any_of(types), limit=0),
                                 mask, None)
        assert fast == naive
        ids = [i for i, _ in fast]
        assert ids.count(multi) == 1, types
    # Retyped to one type, it leaves the other type's pages (the index follows the feed).
    await store.upsert_entities([entity_write(site(3000, point(136.95, 37.02)))], time.time())
    naive, fast = await both(store, index, EntityQuery(types=any_of(("PointOfInterest",)),
                                                       limit=0), mask, None)
    assert fast == naive == []


async def test_a_node_too_large_for_the_index_streams_from_the_store(
        store: SqliteStore) -> None:
    index = EntityIndex(store, max_entities=10)
    assert not await index.sync()
    naive, fast = await both(store, index, QUERIES[0], MASKS[0], AREAS[1])
    assert fast == naive and naive
