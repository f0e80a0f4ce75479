"""JSON sources: arrays and JSON Lines streamed in chunks, NGSIv2 flattening, positions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mappings.errors import SourceError
from mappings.sources import SourceLimits, detect_kind, open_records
from mappings.sources.json_source import flatten_ngsiv2, unflatten_ngsiv2


def test_array_streams_records_across_chunk_boundaries(tmp_path: Path) -> None:
    # Records of varying size, non-ASCII text, and numbers that may straddle a 64 KiB chunk.
    items = [{"id": f"r{i}", "名称": "避難所" * (i % 40), "n": 10 ** (i % 12) + i}
             for i in range(6000)]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
    records = list(open_records(path))
    assert [dict(r.values) for r in records] == items
    assert [r.row for r in records[:3]] == [1, 2, 3]


def test_resume_after_a_record_position(tmp_path: Path) -> None:
    items = [{"id": i, "t": "七尾" * i} for i in range(300)]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    records = list(open_records(path))
    rest = list(open_records(path, start_after=records[149].position))
    assert [r.values for r in rest] == items[150:]
    assert [r.row for r in rest][:2] == [151, 152]


def test_json_lines_with_a_bad_line_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": 2,,}\n\n{"id": 3}\n')
    records = list(open_records(path))
    assert [r.values.get("id") for r in records] == [1, None, 3]
    assert records[1].error is not None and records[1].error.code == "row_malformed"
    assert records[1].values["#line"] == '{"id": 2,,}'
    rest = list(open_records(path, start_after=records[0].position))
    assert [r.row for r in rest] == [2, 3]


def test_truncated_array_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('[{"id": 1}, {"id": 2', encoding="utf-8")
    records = open_records(path)
    assert next(records).values == {"id": 1}
    with pytest.raises(SourceError) as err:
        next(records)
    assert (err.value.code, err.value.row) == ("malformed_json", 2)


def test_oversized_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps([{"x": "y" * 300_000}]), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        list(open_records(path, limits=SourceLimits(max_row_bytes=100_000)))
    assert err.value.code == "row_too_large"


def test_ngsiv2_entities_are_flattened() -> None:
    entity = {"id": "s1", "type": "Shelter",
              "capacity": {"type": "Number", "value": 420, "metadata": {}},
              "elevation": {"type": "Number", "value": 12.0,
                            "metadata": {"unitCode": {"type": "Text", "value": "MTR"}}},
              "tsunamiSafe": True}
    assert flatten_ngsiv2(entity) == {
        "id": "s1", "type": "Shelter", "capacity": 420, "capacity.type": "Number",
        "elevation": 12.0, "elevation.type": "Number", "elevation.metadata.unitCode": "MTR",
        "tsunamiSafe": True}


def test_unflatten_gives_ngsiv2_back() -> None:
    row = {"id": "s1", "capacity": "420", "phone": "0768000101", "safe": "true",
           "location": {"type": "Point", "coordinates": [136.9, 37.1]}, "empty": ""}
    assert unflatten_ngsiv2(row, "Shelter") == {
        "id": "s1", "type": "Shelter",
        "capacity": {"type": "Number", "value": 420, "metadata": {}},
        "phone": {"type": "Text", "value": "0768000101", "metadata": {}},
        "safe": {"type": "Boolean", "value": True, "metadata": {}},
        "location": {"type": "geo:json", "value": {"type": "Point", "coordinates": [136.9, 37.1]},
                     "metadata": {}}}


def test_kind_from_file_names() -> None:
    assert [detect_kind(n) for n in ("a.csv", "a.xlsx", "a.json", "a.jsonl", "a.ngsiv2.json",
                                     "a.ngsild.jsonl", "a.jsonld")] == \
        ["csv", "xlsx", "json", "jsonl", "ngsiv2", "ngsild", "ngsild"]
    with pytest.raises(SourceError) as err:
        detect_kind("a.pdf")
    assert err.value.code == "unsupported_kind"
