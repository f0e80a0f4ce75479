"""NGSI-LD sources: entities validated and passed through unchanged."""

from __future__ import annotations

from pathlib import Path

import orjson

from mappings.engine import Mapped, Quarantined, RunTally, map_records
from mappings.sources import open_records

from .conftest import compiled

PARKING_CTX = ["https://raw.githubusercontent.com/smart-data-models/dataModel.Parking/master/"
               "context.jsonld", "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"]


def _entity(i: int, **extra: object) -> dict:
    return {"id": f"urn:ngsi-ld:OffStreetParking:jp-999999:{i}", "type": "OffStreetParking",
            "@context": PARKING_CTX,
            "name": {"type": "Property", "value": f"P{i}"},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [134.0 + i / 1000, 34.3]}},
            **extra}


def test_json_lines_of_entities(tmp_path: Path) -> None:
    lines = [_entity(1), _entity(2, category={"type": "Property", "value": ["public"]}),
             _entity(3, location={"type": "GeoProperty", "value": {"type": "Point",
                                                                    "coordinates": [34.3, 134]}}),
             {**_entity(4), "type": "Building"},
             _entity(5, occupancy={"type": "Property", "value": 3,
                                   "observedAt": "yesterday"})]
    path = tmp_path / "e.ngsild.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in lines) + b"\n")
    tally = RunTally()
    results = list(map_records(compiled("ngsild_passthrough"), open_records(path), tally=tally))
    assert [type(r).__name__ for r in results] == \
        ["Mapped", "Mapped", "Quarantined", "Quarantined", "Quarantined"]
    assert [(q.row, q.column, q.code) for q in results if isinstance(q, Quarantined)] == [
        (3, "location", "latitude_out_of_range"), (4, "type", "entity_invalid"),
        (5, "occupancy", "date_unparseable")]
    first = results[0]
    assert isinstance(first, Mapped)
    assert first.entity == {k: v for k, v in lines[0].items() if k != "@context"}
    assert tally.counts().read == 5


def test_reverse_gives_the_entity_back() -> None:
    rule = compiled("ngsild_passthrough")
    entity = {k: v for k, v in _entity(1).items() if k != "@context"}
    assert rule.reverse(rule.forward(_entity(1))) == entity
