"""What the CLI prints comes from these structured results."""

from __future__ import annotations

import io
from pathlib import Path

import orjson

from mappings import bundled_rules, bundled_sample, check_rules, run_map


def test_run_map_writes_json_lines_and_reports_counts() -> None:
    out = io.BytesIO()
    seen: list[tuple[int, int]] = []
    report = run_map(bundled_rules("ngsiv2_shelters"), bundled_sample("ngsiv2_shelters"),
                     out=out, progress=lambda done, total: seen.append((done, total)))
    lines = out.getvalue().splitlines()
    assert len(lines) == report.counts.mapped == 13
    first = orjson.loads(lines[0])
    assert first["id"] == "urn:ngsi-ld:EvacuationSite:jp-179999:kitanoto-shelter-001"
    assert (report.counts.read, report.counts.quarantined) == (15, 2)
    assert [q.row for q in report.quarantined] == [7, 15]
    rows = dict(report.summary_rows())
    assert rows["read"] == "15" and rows["  latitude_out_of_range"] == "1"
    size = bundled_sample("ngsiv2_shelters").stat().st_size
    assert seen[-1] == (size, size)


def test_run_map_names_the_columns_a_rule_does_not_read() -> None:
    report = run_map(bundled_rules("nanao_evacuation_sites"),
                     bundled_sample("nanao_evacuation_sites"))
    assert report.unused_headers == ("町字ID", "所在地_町字", "所在地_番地以下", "建物名等(方書)")
    assert report.counts.read == report.counts.mapped == 112


def test_run_map_resumes_after_a_position(tmp_path: Path) -> None:
    from mappings.sources import open_records
    sample = bundled_sample("nanao_evacuation_sites")
    tenth = list(open_records(sample))[9]
    report = run_map(bundled_rules("nanao_evacuation_sites"), sample,
                     start_after=str(tenth.position))
    assert report.counts.read == 102


def test_check_rules_ok_line() -> None:
    report = check_rules(bundled_rules("nanao_open_shelters"))
    assert report.ok
    [line] = report.lines()
    assert "ok" in line and "ShelterOccupancy" in line and "japanese_datetime" in line
