"""The engine: nothing is lost, counts add up, quarantined records can be mapped again."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest

from mappings.engine import (
    Mapped,
    Quarantined,
    RunTally,
    content_hash,
    map_records,
    records_from_quarantine,
)
from mappings.errors import RECORD_CODES
from mappings.sources import open_records

from .conftest import NANAO, compiled


def _damaged(realdata: Path) -> list:
    out = []
    for record in open_records(NANAO / "evacuation_sites.csv"):
        if record.row == 10:
            record = dataclasses.replace(record, values={**record.values, "想定収容人数": "多数"})
        if record.row == 20:
            record = dataclasses.replace(record, values={**record.values, "経度": "東経137度"})
        out.append(record)
    return out


def test_quarantine_keeps_everything_needed_to_map_again(realdata: Path) -> None:
    rule = compiled("nanao_evacuation_sites")
    tally = RunTally()
    results = list(map_records(rule, _damaged(realdata), tally=tally))
    counts = tally.counts()
    assert (counts.read, counts.mapped, counts.quarantined) == (112, 110, 2)
    assert counts.by_code == {"capacity_unparseable": 1, "coordinate_unparseable": 1}
    bad = [r for r in results if isinstance(r, Quarantined)]
    assert [(q.row, q.column, q.raw_value, q.code) for q in bad] == [
        (10, "想定収容人数", "多数", "capacity_unparseable"),
        (20, "経度", "東経137度", "coordinate_unparseable")]
    q = bad[0]
    assert q.file.endswith("evacuation_sites.csv") and q.rule == "nanao_evacuation_sites"
    assert q.record["ID"] == "CC0000000512" and len(q.record) == 26 and q.header
    assert q.position is not None and q.position.row == 10
    # The entry survives a store: JSON out and back.
    stored = orjson.loads(orjson.dumps(q.to_dict()))
    assert Quarantined.from_dict(stored) == q


def test_retry_after_fixing_the_data_maps_the_records(realdata: Path) -> None:
    rule = compiled("nanao_evacuation_sites")
    bad = [r for r in map_records(rule, _damaged(realdata)) if isinstance(r, Quarantined)]
    fixed = [dataclasses.replace(q, record={**q.record, "想定収容人数": "屋内10人／屋外0人",
                                             "経度": "136.97"}) for q in bad]
    again = list(map_records(rule, records_from_quarantine(fixed)))
    assert all(isinstance(r, Mapped) for r in again)
    assert [r.row for r in again] == [10, 20]
    # A bare record mapping (what a store keeps) maps the same way.
    assert rule.forward(fixed[0].record) == again[0].entity  # type: ignore[union-attr]


def test_every_code_the_bundled_rules_produce_is_documented() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    for code in RECORD_CODES:
        assert f"`{code}`" in readme, code


def test_content_hash_is_stable_and_order_free() -> None:
    a = {"id": "x", "type": "T", "n": {"type": "Property", "value": 1}}
    b = {"n": {"value": 1, "type": "Property"}, "type": "T", "id": "x"}
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash({**a, "n": {"type": "Property", "value": 2}})


def test_mapped_results_carry_their_position(realdata: Path) -> None:
    rule = compiled("nanao_evacuation_sites")
    results = list(map_records(rule, open_records(NANAO / "evacuation_sites.csv")))
    last = results[-1]
    assert isinstance(last, Mapped) and last.position is not None
    assert last.position.offset == (NANAO / "evacuation_sites.csv").stat().st_size
    assert list(open_records(NANAO / "evacuation_sites.csv", start_after=last.position)) == []


def test_unexpected_value_shapes_are_quarantined_not_fatal() -> None:
    rule = compiled("ngsiv2_shelters")
    from mappings.sources import Position, SourceRecord
    odd = SourceRecord("f.json", 1, {"id": "s", "name": ["a", "list"],
                                     "location": {"type": "Point", "coordinates": [136.9, 37.1]}},
                       Position(0, 1))
    [result] = map_records(rule, [odd])
    assert isinstance(result, Quarantined)
    assert result.code in RECORD_CODES


@pytest.mark.parametrize("code", sorted(RECORD_CODES))
def test_codes_are_stable_snake_case(code: str) -> None:
    assert code.replace("_", "").isalpha() and code.islower()
