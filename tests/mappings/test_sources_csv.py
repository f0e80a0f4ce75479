"""CSV sources: encodings, line ends, quoted newlines, positions, size limits."""

from __future__ import annotations

import unicodedata
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


@pytest.mark.parametrize("variant", ["euc_jp", "euc_jp-crlf", "utf-16-le-bom", "utf-16-be-bom",
                                     "utf-16-le-bom-crlf"])
def test_euc_jp_and_utf16_with_a_bom_map_like_the_original(tmp_path: Path, original: list,
                                                           variant: str) -> None:
    # Before: EUC-JP got "the header is not cp932 text" and UTF-16 was refused.
    text = ORIGINAL.read_text(encoding="utf-8")
    if "crlf" in variant:
        text = text.replace("\n", "\r\n")
    codec = variant.removesuffix("-crlf").removesuffix("-bom")
    if codec == "euc_jp":
        # Microsoft's full-width forms (U+FF0D, U+FF5E) have no EUC-JP code; the mapping
        # normalizes them (NFKC) to what the file then holds instead.
        text = "".join(c if c.encode("euc_jp", "ignore") else unicodedata.normalize("NFKC", c)
                       for c in text)
    data = text.encode(codec)
    if "bom" in variant:
        data = ("\ufeff".encode(codec)) + data
    path = tmp_path / f"{variant}.csv"
    path.write_bytes(data)
    assert _entities(path) == original


def test_utf16_positions_resume_after_a_record(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes("ID,名称\r\n1,七尾\r\n2,\"二\n行\"\r\n3,中島\r\n".encode("utf-16"))
    records = list(open_records(path))
    assert [(r.row, r.values["名称"]) for r in records] == [(2, "七尾"), (3, "二\n行"),
                                                           (4, "中島")]
    rest = list(open_records(path, start_after=str(records[0].position)))
    assert [r.values["名称"] for r in rest] == ["二\n行", "中島"]


JAPANESE = "ID,名称,住所\n1,七尾市役所,石川県七尾市袖ケ江町イ部25番地\n2,中島小学校,七尾市中島町\n"


@pytest.mark.parametrize(("data", "code", "says"), [
    ("ID,nom\n1,Café de la Gare\n2,Hôtel à Paris\n".encode("latin-1"),
     "encoding_unrecognized", "none of the encodings"),
    (("ID,name\n" + "1,中华人民共和国北京市朝阳区人民政府办公室\n" * 5).encode("gb2312"),
     "encoding_unrecognized", "no kana"),
    (("ID,name\n" + "1,台北市政府資訊處\n" * 12).encode("big5"), "encoding_unrecognized",
     "none of the encodings"),
    (JAPANESE.encode("utf-16-le"), "encoding_unsupported", "without a byte-order mark"),
    (JAPANESE.encode("iso2022_jp"), "encoding_unsupported", "ISO-2022-JP"),
    (b"\xff\xfe\x00\x00" + JAPANESE.encode("utf-32-le"), "encoding_unsupported", "UTF-32"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "encoding_unsupported", ".xls"),
])
def test_a_file_in_another_encoding_is_refused_naming_it(tmp_path: Path, data: bytes,
                                                          code: str, says: str) -> None:
    # Before: Latin-1 and Big5 files were read as UTF-8 with every row quarantined, GB2312
    # was read as EUC-JP kanji (mojibake) without a word.
    path = tmp_path / "foreign.csv"
    path.write_bytes(data)
    with pytest.raises(SourceError) as err:
        list(open_records(path))
    assert err.value.code == code
    assert says in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize(("encoding", "declared", "says"), [
    ("euc_jp", "shift_jis", "looks like EUC-JP"),
    ("cp932", "euc-jp", "looks like CP932"),
    ("utf-8", "cp932", "looks like UTF-8"),
])
def test_a_declared_encoding_the_file_is_not_in_is_refused(tmp_path: Path, encoding: str,
                                                           declared: str, says: str) -> None:
    path = tmp_path / "declared.csv"
    path.write_bytes(JAPANESE.encode(encoding))
    with pytest.raises(SourceError) as err:
        list(open_records(path, encoding=declared))
    assert err.value.code == "encoding_mismatch", err.value
    assert says in str(err.value) and str(path) in str(err.value)
    # Declared as what it is, it is read.
    assert [r.values["名称"] for r in open_records(path, encoding=encoding)] == \
        ["七尾市役所", "中島小学校"]


def test_half_width_katakana_in_cp932_is_read_as_cp932(tmp_path: Path) -> None:
    path = tmp_path / "kana.csv"
    path.write_bytes(("ID,名称,ﾌﾘｶﾞﾅ\n" + "1,七尾市役所,ﾅﾅｵｼﾔｸｼｮ\n" * 50).encode("cp932"))
    assert {r.values["ﾌﾘｶﾞﾅ"] for r in open_records(path)} == {"ﾅﾅｵｼﾔｸｼｮ"}


def test_an_euc_jp_file_with_a_long_ascii_head_is_read_as_euc_jp(tmp_path: Path) -> None:
    filler = "".join(f"X{i:06d},ascii only\n" for i in range(30000))
    path = tmp_path / "late.csv"
    path.write_bytes(("ID,name\n" + filler + "Y1,七尾市役所の避難所\n").encode("euc_jp"))
    *_, last = open_records(path)
    assert (last.values["name"], last.error) == ("七尾市役所の避難所", None)
