"""Result enforcement: field masks, exact area filtering, k-suppression."""

from __future__ import annotations

import pytest
from fedkit import NANAO_BBOX

from trust.agreements import Area
from trust.enforce import (
    FieldMask,
    check_k,
    enforce_entities,
    entity_in_area,
    filter_area,
    suppress_small_groups,
)
from trust.errors import PolicyDenied

MASK = FieldMask({"EvacuationSite": {"name", "location"}, "ShelterOccupancy": {"occupancy"}})
AREA = Area(NANAO_BBOX)


def site(n: int, lon: float = 136.95, lat: float = 37.05, **extra: object) -> dict:
    return {"id": f"urn:ngsi-ld:EvacuationSite:jp-172022:{n}", "type": "EvacuationSite",
            "name": {"type": "Property", "value": f"site {n}"},
            "telephone": {"type": "Property", "value": "0767-00-0000"},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [lon, lat]}}, **extra}


def test_mask_keeps_only_allowed_attributes_and_identity() -> None:
    masked = MASK.apply({**site(1), "@context": ["x"]})
    assert masked is not None
    assert set(masked) == {"id", "type", "name", "location", "@context"}


def test_mask_drops_types_it_does_not_cover() -> None:
    assert MASK.apply({"id": "urn:x", "type": "OffStreetParking"}) is None
    assert MASK.apply({"id": "urn:x"}) is None


def test_mask_answers_per_type_questions() -> None:
    assert MASK.attributes_for("EvacuationSite") == {"id", "type", "@context", "name",
                                                     "location"}
    assert MASK.attributes_for("Unknown") == frozenset()
    assert MASK.allows("ShelterOccupancy", "occupancy")
    assert not MASK.allows("ShelterOccupancy", "name")
    assert MASK.types == {"EvacuationSite", "ShelterOccupancy"}


def test_multi_typed_entity_keeps_allowed_types_only() -> None:
    entity = {"id": "urn:x", "type": ["EvacuationSite", "Secret"], "name": 1, "occupancy": 2,
              "secret": 3}
    assert MASK.apply(entity) == {"id": "urn:x", "type": ["EvacuationSite"], "name": 1}


def test_mask_does_not_modify_its_input() -> None:
    entity = site(1)
    MASK.apply(entity)
    assert "telephone" in entity


def test_apply_many_drops_disallowed_and_masks_the_rest() -> None:
    out = MASK.apply_many([site(1), {"id": "urn:p", "type": "Parking"},
                           {"id": "urn:o", "type": "ShelterOccupancy", "occupancy": 3, "x": 1},
                           {"id": "urn:m", "type": ["Parking", "ShelterOccupancy"]},
                           {"id": "urn:n", "type": {"not": "a type"}}])
    assert [e["id"] for e in out] == ["urn:ngsi-ld:EvacuationSite:jp-172022:1", "urn:o",
                                      "urn:m"]
    assert out[1] == {"id": "urn:o", "type": "ShelterOccupancy", "occupancy": 3}


def test_restrict_narrows_types_and_attributes() -> None:
    narrow = MASK.restrict(["EvacuationSite"], {"name", "telephone"})
    assert narrow.types == {"EvacuationSite"}
    assert narrow.attributes_for("EvacuationSite") == {"id", "type", "@context", "name"}


def test_area_filter_keeps_points_inside_in_order() -> None:
    batch = [site(1), site(2, lon=139.7, lat=35.7), site(3, lon=137.10, lat=37.20), site(4)]
    assert [e["id"][-1] for e in filter_area(batch, AREA)] == ["1", "3", "4"]
    assert filter_area(batch, None) == batch


def test_non_point_geometry_must_be_covered_entirely() -> None:
    inside = {"type": "Polygon", "coordinates": [[[136.9, 37.0], [136.91, 37.0],
                                                  [136.91, 37.01], [136.9, 37.0]]]}
    straddling = {"type": "LineString", "coordinates": [[136.9, 37.0], [137.5, 37.0]]}
    a = {"id": "a", "type": "T", "location": {"type": "GeoProperty", "value": inside}}
    b = {"id": "b", "type": "T", "location": {"type": "GeoProperty", "value": straddling}}
    assert [e["id"] for e in filter_area([a, b], AREA)] == ["a"]
    assert entity_in_area(a, AREA) and not entity_in_area(b, AREA)


@pytest.mark.parametrize("location", [
    None,
    {"type": "GeoProperty", "value": {"type": "Point", "coordinates": ["137", "37"]}},
    {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [True, False]}},
    {"type": "GeoProperty", "value": {"type": "Blob"}},
    {"type": "GeoProperty", "value": "POINT(137 37)"},
])
def test_entities_without_a_usable_location_are_dropped_unless_asked(location) -> None:
    entity = {"id": "x", "type": "ShelterOccupancy"}
    if location is not None:
        entity["location"] = location
    assert filter_area([entity], AREA) == []
    assert filter_area([entity], AREA, keep_unlocated=True) == [entity]


def test_enforce_entities_does_area_then_mask() -> None:
    batch = [site(1), site(2, lon=139.7, lat=35.7), {"id": "p", "type": "Parking"}]
    out = enforce_entities(batch, MASK, AREA)
    assert len(out) == 1 and "telephone" not in out[0]


def test_small_groups_are_suppressed_not_merged() -> None:
    groups = {"flood": {"count": 12, "sum": 400}, "tsunami": {"count": 3, "sum": 90},
              "fire": {"count": 5, "sum": 10}}
    assert suppress_small_groups(groups, 5) == {"flood": groups["flood"], "fire": groups["fire"]}
    assert suppress_small_groups({"a": 4, "b": 9}, 5) == {"b": 9}
    assert suppress_small_groups({"a": (1, 99)}, 2, count=lambda v: v[0]) == {}
    with pytest.raises(ValueError):
        suppress_small_groups({}, 0)


def test_ungrouped_aggregate_below_k_is_refused() -> None:
    check_k(5, 5)
    with pytest.raises(PolicyDenied) as err:
        check_k(4, 5)
    assert err.value.code == "below_k_threshold"
