"""Entities validate against their JSON Schemas: Smart Data Models for SDM types, Renkei's own
for the extension types. SDM schemas $ref remote common schemas; those resolve to bundled
copies, never to the network."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from mappings.engine import Mapped, map_records
from mappings.loader import bundled_sample
from mappings.sources import open_records
from mappings.vocab import SCHEMA_FILES, schema_for, schema_resources, to_key_values

from .conftest import compiled

REGISTRY = Registry().with_resources(
    (uri, Resource.from_contents(doc)) for uri, doc in schema_resources().items())


def validator(entity_type: str) -> Draft202012Validator:
    return Draft202012Validator(schema_for(entity_type), registry=REGISTRY)


SOURCES = [
    ("nanao_evacuation_sites", "japan/nanao/evacuation_sites.csv", "EvacuationSite"),
    ("takamatsu_evacuation_space", "japan/takamatsu/evacuation_space.xlsx", "EvacuationSite"),
    ("ngsiv2_shelters", None, "EvacuationSite"),
    ("nanao_open_shelters", "japan/nanao/open_shelters/open_shelter_Nanao-shi_2024-01-15-0600.csv",
     "ShelterOccupancy"),
    ("takamatsu_parking", "japan/takamatsu/municipal_parking.xlsx", "OffStreetParking"),
    ("takamatsu_aed", "japan/takamatsu/aed_location.xlsx", "PointOfInterest"),
    ("takamatsu_toilets", "japan/takamatsu/public_toilet.csv", "PointOfInterest"),
]


@pytest.mark.parametrize("rule_set, file, entity_type", SOURCES, ids=[s[0] for s in SOURCES])
def test_mapped_entities_validate(realdata: Path, rule_set: str, file: str | None,
                                  entity_type: str) -> None:
    rule = compiled(rule_set)
    path = realdata / file if file else bundled_sample(rule_set)
    check = validator(entity_type)
    count = 0
    for result in map_records(rule, open_records(path, kind=rule.rule.source.kind)):
        if isinstance(result, Mapped):
            assert result.entity["type"] == entity_type
            errors = [e.message for e in check.iter_errors(to_key_values(result.entity))]
            assert errors == [], (result.row, errors)
            count += 1
    assert count > 0


def test_schemas_catch_what_they_should() -> None:
    site = {"id": "urn:ngsi-ld:EvacuationSite:jp-172022:X", "type": "EvacuationSite",
            "name": {"ja": "x"}, "location": {"type": "Point", "coordinates": [136.9, 37.0]},
            "suitableFor": ["flood", "meteor"]}
    messages = [e.message for e in validator("EvacuationSite").iter_errors(site)]
    assert any("meteor" in m for m in messages)
    parking = {"id": "p", "type": "OffStreetParking", "category": ["somewhere"],
               "location": {"type": "Point", "coordinates": [134.0, 34.3]}}
    assert list(validator("OffStreetParking").iter_errors(parking))


def test_remote_references_resolve_only_to_bundled_copies() -> None:
    resolver = REGISTRY.resolver()
    common = "https://smart-data-models.github.io/data-models/common-schema.json"
    assert resolver.lookup(common + "#/definitions/Location-Commons").contents["type"] == "object"
    with pytest.raises(Unresolvable):
        resolver.lookup("https://example.org/not-bundled.json")
    assert set(SCHEMA_FILES) == {"EvacuationSite", "ShelterOccupancy", "Event",
                                 "OffStreetParking", "PointOfInterest"}
