"""Every real file ingests with no crash: clean rows map, truly bad rows are quarantined and
named, and read = mapped + quarantined."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings.engine import Mapped, Quarantined, RunTally, map_records
from mappings.sources import open_records

from .conftest import compiled

CASES = [
    # rule set, file under realdata, rows read, {row: reason} of the truly bad rows
    ("nanao_evacuation_sites", "japan/nanao/evacuation_sites.csv", 112, {}),
    ("takamatsu_evacuation_space", "japan/takamatsu/evacuation_space.xlsx", 193, {}),
    ("takamatsu_aed", "japan/takamatsu/aed_location.xlsx", 450, {}),
    ("takamatsu_parking", "japan/takamatsu/municipal_parking.xlsx", 8, {}),
    ("takamatsu_toilets", "japan/takamatsu/public_toilet.csv", 169, {}),
]
SNAPSHOTS = {  # file → rows (shelters open at that time)
    "open_shelter_Nanao-shi_2024-01-09-1800.csv": 29,
    "open_shelter_Nanao-shi_2024-01-15-0600.csv": 28,
    "open_shelter_Nanao-shi_2024-02-01-0600.csv": 24,
    "open_shelter_Nanao-shi_2024-03-01-0600.csv": 19,
    "open_shelter_Nanao-shi_2024-05-10-0600.csv": 6,
    "open_shelter_Nanao-shi_2024-08-31-1300.csv": 1,
}


def _run(rule_set: str, path: Path) -> tuple[list[Mapped], list[Quarantined], RunTally]:
    rule = compiled(rule_set)
    tally = RunTally()
    results = list(map_records(rule, open_records(path, kind=rule.rule.source.kind),
                               tally=tally))
    mapped = [r for r in results if isinstance(r, Mapped)]
    bad = [r for r in results if isinstance(r, Quarantined)]
    counts = tally.counts()
    assert counts.read == counts.mapped + counts.quarantined == len(results)
    return mapped, bad, tally


@pytest.mark.parametrize("rule_set, file, rows, bad_rows", CASES,
                         ids=[c[0] for c in CASES])
def test_real_file_ingests_cleanly(realdata: Path, rule_set: str, file: str, rows: int,
                                   bad_rows: dict[int, str]) -> None:
    mapped, bad, tally = _run(rule_set, realdata / file)
    assert tally.read == rows
    assert {q.row: q.code for q in bad} == bad_rows
    ids = [m.entity["id"] for m in mapped]
    assert len(set(ids)) == len(ids), "one entity per site"


def test_nanao_rows_are_numbered_as_a_spreadsheet_shows_them(realdata: Path) -> None:
    mapped, _, _ = _run("nanao_evacuation_sites", realdata / "japan/nanao/evacuation_sites.csv")
    rows = {m.entity["id"].rsplit(":", 1)[1]: m.row for m in mapped}
    # The header is row 1; CC0000000563's quoted romaji spans two lines but is one row (61),
    # so the sites after it keep their spreadsheet numbers.
    assert rows["CC0000000504"] == 2
    assert rows["CC0000000563"] == 61
    assert rows["CC0000000564"] == 62
    assert rows["NEW003"] == 113


def test_generic_layout_rule_quarantines_rows_without_a_code(realdata: Path) -> None:
    _, bad, tally = _run("da_evacuation_sites", realdata / "japan/nanao/evacuation_sites.csv")
    assert {(q.row, q.column, q.code) for q in bad} == {
        (111, "所在地_全国地方公共団体コード", "missing_required"),
        (112, "所在地_全国地方公共団体コード", "missing_required"),
        (113, "所在地_全国地方公共団体コード", "missing_required"),
    }
    assert tally.mapped == 109


def test_all_six_shelter_snapshots_update_the_same_entities(realdata: Path) -> None:
    folder = realdata / "japan/nanao/open_shelters"
    assert sorted(p.name for p in folder.iterdir()) == sorted(SNAPSHOTS)
    observed: dict[str, list[tuple[str, int]]] = {}
    for name, rows in sorted(SNAPSHOTS.items()):
        mapped, bad, tally = _run("nanao_open_shelters", folder / name)
        assert (tally.read, bad) == (rows, [])
        for m in mapped:
            occ = m.entity["occupancy"]
            observed.setdefault(m.entity["id"], []).append((occ["observedAt"], occ["value"]))
    # 矢田郷地区コミュニティセンター stayed open to the end: one entity, observed over time.
    yatago = observed["urn:ngsi-ld:ShelterOccupancy:jp-172022:CC0000000537"]
    assert yatago[-2:] == [("2024-05-10T06:00:00+09:00", 47), ("2024-08-31T13:30:00+09:00", 40)]
    # Each snapshot's observedAt, the first one from its header.
    firsts = sorted({when for series in observed.values() for when, _ in series})
    assert firsts == ["2024-01-09T18:00:00+09:00", "2024-01-15T06:00:00+09:00",
                      "2024-02-01T06:00:00+09:00", "2024-03-01T06:00:00+09:00",
                      "2024-05-10T06:00:00+09:00", "2024-08-31T13:30:00+09:00"]


def test_synthetic_ngsiv2_city_shows_its_two_bad_entities() -> None:
    from mappings.loader import bundled_sample
    mapped, bad, tally = _run("ngsiv2_shelters", bundled_sample("ngsiv2_shelters"))
    assert (tally.read, tally.mapped) == (15, 13)
    assert {(q.row, q.column, q.code) for q in bad} == {
        (7, "location", "latitude_out_of_range"), (15, "capacity", "integer_unparseable")}
    assert all(q.record["id"].startswith("kitanoto-shelter-") for q in bad)
    for m in mapped:  # the synthetic sites lie 5-15 km from Nanao, on the Noto peninsula
        lon, lat = m.entity["location"]["value"]["coordinates"]
        assert 37.05 <= lat <= 37.15 and 136.85 <= lon <= 137.0


def test_bundled_samples_are_the_real_files(realdata: Path) -> None:
    from mappings.loader import bundled_sample, bundled_samples
    assert bundled_sample("nanao_evacuation_sites").read_bytes() == \
        (realdata / "japan/nanao/evacuation_sites.csv").read_bytes()
    assert bundled_sample("takamatsu_evacuation_space").read_bytes() == \
        (realdata / "japan/takamatsu/evacuation_space.xlsx").read_bytes()
    assert [p.read_bytes() for p in bundled_samples("nanao_open_shelters")] == \
        [(realdata / "japan/nanao/open_shelters" / n).read_bytes() for n in sorted(SNAPSHOTS)]
