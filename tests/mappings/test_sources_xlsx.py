"""xlsx sources: read-only streaming, cell text, row numbers, resume, decompression bombs."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest

from mappings.errors import SourceError
from mappings.sources import SourceLimits, open_records

from .conftest import TAKAMATSU


def _workbook(path: Path, rows: list[list]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    for i, row in enumerate(rows, 1):
        for j, value in enumerate(row, 1):
            if value is not None:
                ws.cell(row=i, column=j, value=value)
    wb.save(path)
    return path


def test_cells_become_text_and_rows_keep_their_sheet_numbers(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "w.xlsx", [
        ["#property", "capacity", "elevation", "name"],
        ["1", 238, 1.7, "日新"],
        [None, None, None, None],          # an empty row: no record, but it counts
        ["3", 12.0, None, "三番"],
    ])
    records = list(open_records(path))
    assert [(r.row, dict(r.values)) for r in records] == [
        (2, {"#property": "1", "capacity": "238", "elevation": "1.7", "name": "日新"}),
        (4, {"#property": "3", "capacity": "12", "elevation": "", "name": "三番"}),
    ]


def test_resume_after_a_row(realdata: Path) -> None:
    path = TAKAMATSU / "evacuation_space.xlsx"
    records = list(open_records(path))
    rest = list(open_records(path, start_after=records[99].position))
    assert [r.row for r in rest] == [r.row for r in records[100:]]
    assert rest[0].values == records[100].values


def test_decompression_bomb_is_refused_before_parsing(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (8 * 1024 * 1024))
    assert bomb.stat().st_size < 64 * 1024
    with pytest.raises(SourceError) as err:
        list(open_records(bomb))
    assert err.value.code == "xlsx_bomb"
    assert "sheet1.xml" in str(err.value)


def test_total_uncompressed_size_is_limited(tmp_path: Path) -> None:
    path = TAKAMATSU / "aed_location.xlsx"
    if not path.exists():
        pytest.skip("../shared/realdata is not beside the repository")
    with pytest.raises(SourceError) as err:
        list(open_records(path, limits=SourceLimits(max_xlsx_uncompressed_bytes=10_000)))
    assert err.value.code == "xlsx_bomb"


def test_the_files_bytes_decide_between_csv_and_xlsx(tmp_path: Path) -> None:
    # Cities rename files: a CSV saved as .xlsx, an Excel workbook saved as .csv.
    text = tmp_path / "really_csv.xlsx"
    text.write_text("ID,名称\n1,七尾\n", encoding="utf-8")
    assert [dict(r.values) for r in open_records(text)] == [{"ID": "1", "名称": "七尾"}]
    book = _workbook(tmp_path / "book.xlsx", [["ID", "名称"], ["1", "七尾"]])
    named_csv = tmp_path / "really_xlsx.csv"
    named_csv.write_bytes(book.read_bytes())
    assert [dict(r.values) for r in open_records(named_csv, kind="csv")] == \
        [{"ID": "1", "名称": "七尾"}]


def test_a_workbook_where_json_is_due_is_refused(tmp_path: Path) -> None:
    book = _workbook(tmp_path / "book.xlsx", [["ID"], ["1"]])
    named = tmp_path / "entities.json"
    named.write_bytes(book.read_bytes())
    with pytest.raises(SourceError) as err:
        list(open_records(named))
    assert err.value.code == "kind_mismatch"
    assert "xlsx" in str(err.value)


def test_a_broken_zip_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(SourceError) as err:
        list(open_records(path))
    assert err.value.code == "unreadable"


def test_a_wide_declared_dimension_reads_only_the_column_limit(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "wide.xlsx", [["a", "b"], ["1", "2"]])
    records = list(open_records(path, limits=SourceLimits(max_columns=1)))
    assert [dict(r.values) for r in records] == [{"a": "1"}]


def test_cells_beyond_the_header_are_kept_and_quarantined(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "extra.xlsx", [["a", "b"], ["1", "2", "surprise"]])
    [record] = open_records(path)
    assert record.error is not None and record.error.code == "row_malformed"
    assert record.values["#extra1"] == "surprise"


def test_a_sheet_that_starts_below_and_right_of_a1_keeps_its_rows_and_columns(
        tmp_path: Path) -> None:
    # Row 1 is empty, so there is no header: every row's cells are beyond it (quarantined),
    # and the numbers are the sheet's own.
    path = _workbook(tmp_path / "offset.xlsx", [[], [None, None, "a", "b"], [None, None, "1"]])
    records = list(open_records(path))
    assert [(r.row, dict(r.values)) for r in records] == [
        (2, {"#extra1": "a", "#extra2": "b"}), (3, {"#extra1": "1"})]
    path = _workbook(tmp_path / "right.xlsx", [[None, "name", "capacity"], [None, "x", 5]])
    [record] = open_records(path)
    assert (record.row, dict(record.values), record.error) == (
        2, {"": "", "name": "x", "capacity": "5"}, None)


def test_dates_and_times_read_as_iso_text(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "dates.xlsx", [
        ["day", "at", "time", "flag"],
        [dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5), dt.time(10, 30), True]])
    [record] = open_records(path)
    assert dict(record.values) == {"day": "2024-01-02T00:00:00", "at": "2024-01-02T03:04:05",
                                   "time": "10:30:00", "flag": "TRUE"}


def test_a_named_sheet_is_read_and_a_missing_one_is_refused(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.append(["a"])
    second = wb.create_sheet("避難所")
    second.append(["name"])
    second.append(["体育館"])
    wb.save(tmp_path / "two.xlsx")
    [record] = open_records(tmp_path / "two.xlsx", sheet="避難所")
    assert dict(record.values) == {"name": "体育館"}
    with pytest.raises(SourceError) as err:
        list(open_records(tmp_path / "two.xlsx", sheet="none"))
    assert err.value.code == "unreadable" and "避難所" in str(err.value)


def test_a_workbook_named_csv_is_read_as_a_workbook(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "w.xlsx", [["name"], ["体育館"]])
    renamed = path.rename(tmp_path / "w.csv")
    [record] = open_records(renamed)
    assert dict(record.values) == {"name": "体育館"}
