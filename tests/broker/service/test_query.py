"""The query stack's semantics, the same on every path: the NGSI-LD API's local pages, the
provider's store scans and the provider's entity index select the same entities for the same
query (idPattern searched, type expressions, q, geo), and projection keeps the core members."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from broker.errors import BadRequest
from broker.ngsi.query import NgsiQuery, local_page
from broker.provider.entity_index import EntityIndex
from broker.provider.query import EntityQuery, run_query
from broker.service.entity_write import entity_write
from broker.service.filters import And, Comparison, Near
from broker.service.query import (
    Selection,
    anchored_prefix,
    any_of,
    id_pattern,
    parse_types,
    project,
)
from broker.store.sqlite import SqliteStore
from trust.enforce import FieldMask

ES = "urn:ngsi-ld:EvacuationSite"
NANAO_1, NANAO_2 = f"{ES}:jp-172022:001", f"{ES}:jp-172022:002"
TOYAMA_1 = f"{ES}:jp-162019:001"
OCCUPANCY_1 = "urn:ngsi-ld:ShelterOccupancy:jp-172022:001"
ANNEX = "urn:ngsi-ld:Building:x:EvacuationSite-annex"


def entity(entity_id: str, entity_type: str, **attrs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": entity_id, "type": entity_type}
    for name, value in attrs.items():
        if name == "at":
            out["location"] = {"type": "GeoProperty",
                               "value": {"type": "Point", "coordinates": list(value)}}
        else:
            out[name] = {"type": "Property", "value": value}
    return out


CORPUS = [
    entity(NANAO_1, "EvacuationSite", capacity=100, at=(136.96, 37.04)),
    entity(NANAO_2, "EvacuationSite", capacity=300, at=(136.99, 37.06)),
    entity(TOYAMA_1, "EvacuationSite", capacity=50),
    entity(OCCUPANCY_1, "ShelterOccupancy", occupancy=12, at=(136.96, 37.04)),
    entity(ANNEX, "Building", capacity=80, at=(137.2, 36.7)),
]
EVERY_TYPE = ("Building", "EvacuationSite", "ShelterOccupancy")

# (what the query selects, the ids it must return in id order: written out by hand)
CASES: list[tuple[dict[str, Any], list[str]]] = [
    # idPattern is searched in the id: a plain word matches wherever it occurs
    ({"types": any_of(["EvacuationSite"]), "id_pattern": "EvacuationSite"},
     [TOYAMA_1, NANAO_1, NANAO_2]),
    ({"id_pattern": "EvacuationSite"}, [ANNEX, TOYAMA_1, NANAO_1, NANAO_2]),
    ({"id_pattern": "^urn:ngsi-ld:EvacuationSite:jp-172022"}, [NANAO_1, NANAO_2]),
    ({"id_pattern": "^EvacuationSite"}, []),
    ({"id_pattern": "jp-1[67]2.*:001$"}, [TOYAMA_1, NANAO_1, OCCUPANCY_1]),
    ({"id_pattern": "^urn:ngsi-ld:(Building|ShelterOccupancy):"}, [ANNEX, OCCUPANCY_1]),
    ({"id_pattern": "^urn:ngsi-ld:Shelter|annex$"}, [ANNEX, OCCUPANCY_1]),
    ({"id_pattern": "^urn:ngsi-ld:E?vacuationSite:jp-16"}, [TOYAMA_1]),
    # type unions, q, geo, ids
    ({"types": any_of(["EvacuationSite", "Building"]),
      "q": And((Comparison("capacity", ">", 60),))}, [ANNEX, NANAO_1, NANAO_2]),
    ({"geo": Near(136.96, 37.04, 100.0)}, [NANAO_1, OCCUPANCY_1]),
    ({"types": any_of(["EvacuationSite"]), "geo": Near(136.96, 37.04, 100.0),
      "id_pattern": "172022"}, [NANAO_1]),
    ({"ids": (NANAO_2, TOYAMA_1, "urn:nope"), "id_pattern": "jp-16"}, [TOYAMA_1]),
]


@pytest.fixture
async def store(store: SqliteStore) -> SqliteStore:
    """The shared store (tests/conftest.py), seeded with the corpus."""
    await store.upsert_entities([entity_write(e) for e in CORPUS], time.time())
    return store


@pytest.mark.parametrize(("selects", "expected"), CASES)
async def test_the_api_the_provider_and_the_index_select_the_same_entities(
        store: SqliteStore, selects: dict[str, Any], expected: list[str]) -> None:
    page = await local_page(store, NgsiQuery(**selects, limit=100, count=True))
    assert [e["id"] for e in page.entities()] == expected
    assert page.count == len(expected)
    scanned = [e["id"] async for e in run_query(store, EntityQuery(**selects, limit=0))]
    assert scanned == expected
    index = EntityIndex(store)
    assert await index.sync()
    mask = FieldMask({t: ["capacity", "occupancy", "location"] for t in EVERY_TYPE})
    assert [i for i, _ in index.select(EntityQuery(**selects, limit=0), mask, None)] == expected


async def test_what_a_peer_sends_is_checked_with_the_same_rules() -> None:
    # The consumer checks entities from peers on arrival with Selection.matches: the id
    # pattern included (the index's own conditions, ids and a union of types, aside).
    for selects, expected in CASES:
        if "ids" in selects:
            continue
        chosen = Selection(**selects)
        union = selects.get("types")
        got = sorted(e["id"] for e in CORPUS if chosen.matches(e)
                     and (union is None or union.matches((e["type"],))))
        assert got == sorted(expected), selects


@pytest.mark.parametrize(("pattern", "ids"), [
    ("^urn:x:001|urn:y:002", ["urn:x:001", "urn:y:002"]),
    ("^urn:x:(001|002)", ["urn:x:001", "urn:x:002"]),
    ("^urn:x:00?1", ["urn:x:01", "urn:x:001"]),
    ("^urn:x:.*", ["urn:x:1"]),
    ("^urn:x:0{2}1", ["urn:x:001"]),
    ("urn:x:001", ["urn:x:001", "prefix-urn:x:001"]),
    ("x:00", ["urn:x:001", "urn:y:x:002"]),
])
def test_the_index_prefix_of_a_pattern_keeps_every_id_the_pattern_finds(
        pattern: str, ids: list[str]) -> None:
    compiled = id_pattern(pattern)
    assert compiled is not None
    for entity_id in ids:
        assert re.search(pattern, entity_id) and compiled.matches(entity_id)
        assert entity_id.startswith(compiled.prefix), (pattern, compiled.prefix, entity_id)


def test_only_an_anchored_pattern_narrows_the_scan() -> None:
    assert anchored_prefix("^urn:ngsi-ld:EvacuationSite:") == "urn:ngsi-ld:EvacuationSite:"
    assert anchored_prefix("urn:ngsi-ld:EvacuationSite:") == ""
    assert anchored_prefix("^urn:ngsi-ld:a|b") == ""


@pytest.mark.parametrize("bad", ["(", "a" * 257, "(?=lookahead)", 42, ["x"]])
def test_a_bad_id_pattern_is_a_bad_request(bad: Any) -> None:
    with pytest.raises(BadRequest):
        id_pattern(bad)


def test_type_expressions_follow_ngsi_ld_4_17() -> None:
    both = parse_types("Building;EvacuationSite")
    assert both.matches(("Building", "EvacuationSite")) and not both.matches(("Building",))
    either = parse_types("Building,EvacuationSite")
    assert either.matches(("Building",)) and either.plain_union()
    nested = parse_types("(Building;School)|EvacuationSite")
    assert nested.matches(("EvacuationSite",)) and nested.matches(("School", "Building"))
    assert not nested.matches(("School",)) and not nested.plain_union()
    assert nested.leaves() == ("Building", "School", "EvacuationSite")
    assert parse_types("a|b", str.upper).leaves() == ("A", "B")
    for bad in ("", "(a", "a)", "a,,b", "x" * 2049):
        with pytest.raises(BadRequest):
            parse_types(bad)


def test_a_type_intersection_is_checked_on_the_entity() -> None:
    multi = {"id": "urn:m", "type": ["Building", "EvacuationSite"]}
    assert Selection(types=parse_types("Building;EvacuationSite")).matches(multi)
    assert not Selection(types=parse_types("Building;School")).matches(multi)


def test_attrs_select_entities_with_at_least_one_of_them() -> None:
    chosen = Selection(attrs=("occupancy", "missing"))
    assert [e["id"] for e in CORPUS if chosen.matches(e)] == [OCCUPANCY_1]


def test_projection_keeps_the_core_members_and_the_picked_attributes() -> None:
    full = {**CORPUS[0], "scope": "/jp", "createdAt": "t", "modifiedAt": "t"}
    assert project(full, ["capacity"]) == {k: full[k] for k in (
        "id", "type", "capacity", "scope", "createdAt", "modifiedAt")}
    assert project(full, None, ["capacity", "location"]) == {
        k: full[k] for k in ("id", "type", "scope", "createdAt", "modifiedAt")}
    assert project(full) == full
