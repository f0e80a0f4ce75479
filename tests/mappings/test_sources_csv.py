"""CSV sources: encodings, line ends, quoted newlines, positions, size limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings.engine import Mapped, Quarantined, map_records
from mappings.errors import SourceError
from mappings.sources import Position, SourceLimits, open_records

from .conftest import NANAO, compiled

ORIGINAL = NANAO / "evacuation_sites.csv"


def _entities(path: Path) -> list[dict]:
    results = list(map_records(compiled("nanao_evacuation_sites"), open_records(path)))
    assert all(isinstance(r, Mapped) for r in results)
    return [(r.row, r.entity) for r in results]  # type: ignore[misc]


@pytest.fixture(scope="module")
def original(realdata: Path) -> list:
    return _entities(ORIGINAL)


@pytest.mark.parametrize("variant", ["cp932", "cp932-crlf", "utf-8-bom", "utf-8-bom-crlf",
                                     "utf-8-crlf"])
def test_encodings_and_line_ends_map_identically(tmp_path: Path, original: list,
                                                 variant: str) -> None:
    text = ORIGINAL.read_text(encoding="utf-8")
    if "crlf" in variant:
        text = text.replace("\n", "\r\n")
    data = text.encode("cp932") if variant.startswith("cp932") else text.encode("utf-8")
    if "bom" in variant:
        data = b"\xef\xbb\xbf" + data
    path = tmp_path / f"{variant}.csv"
    path.write_bytes(data)
    assert _entities(path) == original


def test_cp932_file_with_a_long_ascii_head_is_still_read_as_cp932(tmp_path: Path) -> None:
    # Detection reads a sample; if the sample is pure ASCII the first non-ASCII line decides.
    filler = "".join(f"X{i:06d},ascii only\r\n" for i in range(30000))
    data = ("ID,名称\r\n".encode("cp932") + filler.encode("ascii")
            + "Y1,七尾市役所\r\n".encode("cp932"))
    path = tmp_path / "late.csv"
    path.write_bytes(data)
    *_, last = open_records(path)
    assert (last.row, last.values["名称"], last.error) == (30002, "七尾市役所", None)


def test_undecodable_row_is_quarantined_and_the_file_goes_on(tmp_path: Path) -> None:
    lines = ORIGINAL.read_bytes().split(b"\n")
    lines[4] = lines[4].replace("七尾".encode(), b"\xff\xfe", 1)  # row 5
    path = tmp_path / "broken.csv"
    path.write_bytes(b"\n".join(lines))
    results = list(map_records(compiled("nanao_evacuation_sites"), open_records(path)))
    bad = [r for r in results if isinstance(r, Quarantined)]
    assert [(q.row, q.code) for q in bad] == [(5, "encoding_error")]
    assert "\ufffd" in "".join(bad[0].record.values())
    assert len(results) == 112


def test_quoted_newline_is_one_record_and_one_row(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('ID,名称\r\n1,"two\r\nlines"\r\n2,plain\r\n', encoding="utf-8")
    records = list(open_records(path))
    assert [(r.row, r.values["名称"]) for r in records] == [(2, "two\r\nlines"), (3, "plain")]


def test_resume_after_a_position_reads_only_the_rest(tmp_path: Path, realdata: Path) -> None:
    records = list(open_records(ORIGINAL))
    after = records[59]  # row 61, the one with the quoted newline
    rest = list(open_records(ORIGINAL, start_after=str(after.position)))
    assert [(r.row, dict(r.values)) for r in rest] == \
        [(r.row, dict(r.values)) for r in records[60:]]
    assert Position.parse(str(after.position)) == after.position


def test_blank_lines_count_as_rows_but_hold_no_record(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("ID,名称\n1,a\n\n2,b\n", encoding="utf-8")
    assert [r.row for r in open_records(path)] == [2, 4]


def test_extra_fields_are_kept_and_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("ID,名称\n1,a,surprise\n2,b,\n", encoding="utf-8")
    first, second = open_records(path)
    assert first.error is not None and first.error.code == "row_malformed"
    assert first.values["#extra1"] == "surprise"
    assert second.error is None  # a trailing empty field is harmless


def test_file_over_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        open_records(ORIGINAL, limits=SourceLimits(max_file_bytes=1000))
    assert err.value.code == "file_too_large"
    assert str(ORIGINAL) in str(err.value)


def test_row_over_the_limit_stops_with_its_row_number(tmp_path: Path) -> None:
    path = tmp_path / "runaway.csv"
    path.write_text('ID,名称\n1,ok\n2,"unterminated\n' + "x" * 5000 + "\n", encoding="utf-8")
    records = open_records(path, limits=SourceLimits(max_row_bytes=1024))
    assert next(records).row == 2
    with pytest.raises(SourceError) as err:
        next(records)
    assert (err.value.code, err.value.row) == ("row_too_large", 3)


def test_cell_over_the_limit_quarantines_the_record(tmp_path: Path) -> None:
    path = tmp_path / "cell.csv"
    path.write_text("ID,名称\n1," + "長" * 300 + "\n2,ok\n", encoding="utf-8")
    big, small = open_records(path, limits=SourceLimits(max_cell_chars=100))
    assert big.error is not None
    assert (big.error.code, big.error.column) == ("cell_too_large", "名称")
    assert small.error is None


def test_missing_required_column_names_it(tmp_path: Path) -> None:
    path = tmp_path / "nolat.csv"
    path.write_text("ID,名称,経度,災害種別_洪水\n1,a,136.9,1\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        list(map_records(compiled("nanao_evacuation_sites"), open_records(path)))
    assert err.value.code == "missing_column"
    assert "緯度" in str(err.value)


def test_utf16_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes("ID,名称\n".encode("utf-16"))
    with pytest.raises(SourceError) as err:
        list(open_records(path))
    assert err.value.code == "encoding_error"
