"""The transform library: behaviour on the values real files hold, and declared normal forms.

Each transform declares what a round trip ``reverse(forward(x))`` gives back. The property
tests here state those normal forms independently of the code and check them with hypothesis.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.errors import RecordError
from mappings.transforms import TRANSFORMS

JST = timezone(timedelta(hours=9))
FAST = settings(max_examples=60, deadline=None)


def step(name: str, args: object = None):
    return TRANSFORMS[name].bind(args)


def code_of(fn, value) -> str:
    with pytest.raises(RecordError) as err:
        fn(value)
    return err.value.code


# -- values from the real files -----------------------------------------------------------------

@pytest.mark.parametrize("text, parts", [
    ("屋内1,371人／屋外5,470人（面積の1/2）", (6841, 1371, 5470, "面積の1/2")),
    ("屋内191人／屋外0人(面積の1/2)", (191, 191, 0, "面積の1/2")),
    ("屋内2,736人屋外11,700人（面積の1/2）", (14436, 2736, 11700, "面積の1/2")),
    ("屋内990人／屋外0人(座席数)", (990, 990, 0, "座席数")),
    ("屋内90人／屋外1570人(面積の1/2)", (1660, 90, 1570, "面積の1/2")),
    ("屋外750人", (750, None, 750, None)),
    ("約500人", (500, None, None, None)),
])
def test_capacity_reads_nanao_texts(text: str, parts: tuple) -> None:
    got = step("capacity").forward(text)
    assert (got["total"], got["indoor"], got["outdoor"], got["note"]) == parts


@pytest.mark.parametrize("text", ["多数", "屋内1,37人", "屋内100人屋内50人", "屋内100人と屋外"])
def test_capacity_refuses_what_it_cannot_read(text: str) -> None:
    assert code_of(step("capacity").forward, text) == "capacity_unparseable"


@pytest.mark.parametrize("text, iso", [
    ("令和6年1月9日午後6時", "2024-01-09T18:00:00+09:00"),
    ("令和6年1月15日午前6時", "2024-01-15T06:00:00+09:00"),
    ("令和6年8月31日午後1時30分", "2024-08-31T13:30:00+09:00"),
    ("令和元年5月1日午前0時", "2019-05-01T00:00:00+09:00"),
    ("平成31年4月30日", "2019-04-30T00:00:00+09:00"),
    ("昭和64年1月7日午後0時", "1989-01-07T12:00:00+09:00"),
    ("令和６年１月９日（火）午後６時", "2024-01-09T18:00:00+09:00"),
    ("2024年1月9日18時", "2024-01-09T18:00:00+09:00"),
    ("2024/01/09 18:00", "2024-01-09T18:00:00+09:00"),
])
def test_japanese_dates(text: str, iso: str) -> None:
    assert step("japanese_datetime").forward(text) == iso


@pytest.mark.parametrize("text, code", [
    ("平成32年1月1日", "date_invalid"),       # 平成 ended on 2019-04-30
    ("令和元年4月30日", "date_invalid"),      # 令和 began on 2019-05-01
    ("令和6年2月30日", "date_invalid"),
    ("令和6年1月9日午後13時", "date_invalid"),
    ("1月9日午後6時", "date_unparseable"),
])
def test_japanese_dates_refused(text: str, code: str) -> None:
    assert code_of(step("japanese_datetime").forward, text) == code


def test_flags() -> None:
    read = step("flag").forward
    assert [read(v) for v in ("1", "1.0", "○", "◯", "有", None, "×", "無", "△")] == \
        [True, True, True, True, True, False, False, False, "conditional"]
    assert code_of(read, "?") == "flag_unrecognized"
    takamatsu = step("flag", {"false_marks": ["-", "−"]}).forward
    assert (takamatsu("-"), takamatsu("−")) == (False, False)


def test_hazard_code_list() -> None:
    code = step("code", "hazard").forward
    names = ["洪水", "崖崩れ・土石流及び地滑り", "崖崩れ、土石流及び地滑り", "高潮", "地震", "津波",
             "大規模な火事", "内水氾濫", "火山現象"]
    assert code(names) == ["flood", "sediment_disaster", "sediment_disaster", "storm_surge",
                           "earthquake", "tsunami", "large_fire", "inland_flooding", "volcano"]
    assert code_of(code, "隕石") == "code_unknown"


def test_geo_point_range_checks() -> None:
    geo = step("geo_point").forward
    assert geo(("37.04826", "136.96136")) == {"type": "Point", "coordinates": [136.96136, 37.04826]}
    assert code_of(geo, ("137.0", "37.0")) == "latitude_out_of_range"
    assert code_of(geo, ("37.0", "237.0")) == "longitude_out_of_range"
    assert code_of(geo, ("北緯37度", "136.9")) == "coordinate_unparseable"
    assert code_of(geo, ("37.0", None)) == "missing_required"
    assert geo((None, None)) is None
    japan = step("geo_point", {"within": [122.0, 20.0, 154.0, 46.0]}).forward
    assert code_of(japan, ("-37.0", "136.9")) == "latitude_out_of_range"


def test_numbers() -> None:
    assert step("to_int").forward("1,371") == 1371
    assert step("to_int", {"suffix": "人"}).forward("１，３７１人") == 1371
    assert step("to_int").forward("12.0") == 12
    assert code_of(step("to_int").forward, "1,37") == "integer_unparseable"
    assert code_of(step("to_int", {"min": 0}).forward, "-1") == "number_out_of_range"
    assert step("to_float").forward("２．７") == 2.7
    assert code_of(step("to_float").forward, "nan") == "number_unparseable"


def test_municipality_codes() -> None:
    member = step("municipality_member").forward
    assert [member(c) for c in ("172022", "17202", "37201", "１７２０２２")] == \
        ["jp-172022", "jp-172022", "jp-372013", "jp-172022"]
    assert code_of(member, "172023") == "municipality_code_invalid"


def test_required_and_default() -> None:
    assert code_of(step("required").forward, None) == "missing_required"
    assert step("default", 0).forward(None) == 0
    assert step("blank_if", ["-", "なし"]).forward("－") is None


def test_opening_hours() -> None:
    hours = step("opening_hours").forward
    assert hours(("月火水木金土日", "7:30", "22:00")) == "Mo,Tu,We,Th,Fr,Sa,Su 07:30-22:00"
    assert hours(("平日", "9:00", "17:00")) == "Mo,Tu,We,Th,Fr 09:00-17:00"
    assert hours(("土日祝以外", "9:00", "1700")) == "Mo,Tu,We,Th,Fr 09:00-17:00"
    assert code_of(hours, ("毎週", "9:00", "17:00")) == "opening_hours_unparseable"


def test_every_transform_declares_its_round_trip() -> None:
    for spec in TRANSFORMS.values():
        assert spec.round_trip in ("lossless", "normalizes", "lossy"), spec.name
        assert spec.summary and spec.normal_form, spec.name


# -- declared normal forms, as properties ---------------------------------------------------------

def round_trip(name: str, value: object, args: object = None) -> object:
    s = step(name, args)
    return s.reverse(s.forward(value))


@FAST
@given(st.text(max_size=30))
def test_nfkc_round_trip_is_nfkc(text: str) -> None:
    assert round_trip("nfkc", text) == unicodedata.normalize("NFKC", text)


@FAST
@given(st.text(max_size=30))
def test_strip_and_collapse_round_trips(text: str) -> None:
    assert round_trip("strip", text) == (text.strip() or None)
    assert round_trip("collapse_spaces", text) == (" ".join(text.split()) or None)


@FAST
@given(st.integers(min_value=0, max_value=10**9), st.booleans(), st.booleans())
def test_to_int_round_trip_drops_separators(n: int, grouped: bool, wide: bool) -> None:
    text = f"{n:,}" if grouped else str(n)
    if wide:
        text = text.translate(str.maketrans("0123456789,", "０１２３４５６７８９，"))
    assert round_trip("to_int", text) == str(n)


@FAST
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_to_float_round_trip_is_the_shortest_text(x: float) -> None:
    assert round_trip("to_float", repr(x)) == repr(x)


@FAST
@given(st.integers(0, 200_000), st.integers(0, 200_000),
       st.sampled_from(["", "面積の1/2", "座席数", "面積の1/1"]),
       st.sampled_from(["／", "/", ""]), st.sampled_from([("(", ")"), ("（", "）")]),
       st.booleans())
def test_capacity_round_trip_is_the_canonical_text(indoor: int, outdoor: int, note: str,
                                                    slash: str, brackets: tuple[str, str],
                                                    grouped: bool) -> None:
    fmt = (lambda n: f"{n:,}") if grouped else str
    text = f"屋内{fmt(indoor)}人{slash}屋外{fmt(outdoor)}人"
    if note:
        text += f"{brackets[0]}{note}{brackets[1]}"
    parsed = step("capacity").forward(text)
    assert parsed["total"] == indoor + outdoor
    canonical = f"屋内{indoor:,}人／屋外{outdoor:,}人" + (f"（{note}）" if note else "")
    assert round_trip("capacity", text) == canonical


@FAST
@given(st.datetimes(min_value=datetime(1927, 1, 1), max_value=datetime(2040, 12, 31)),
       st.booleans())
def test_japanese_datetime_round_trip(moment: datetime, wide: bool) -> None:
    moment = moment.replace(second=0, microsecond=0, tzinfo=JST)
    if moment.date() < datetime(1989, 1, 8).date():
        era, base = "昭和", 1925
    elif moment.date() < datetime(2019, 5, 1).date():
        era, base = "平成", 1988
    else:
        era, base = "令和", 2018
    year = moment.year - base
    hour = moment.hour
    text = (f"{era}{'元' if year == 1 else year}年{moment.month}月{moment.day}日"
            f"{'午前' if hour < 12 else '午後'}{hour % 12}時"
            + (f"{moment.minute}分" if moment.minute else ""))
    iso = moment.isoformat()
    assert step("japanese_datetime").forward(text) == iso
    assert round_trip("japanese_datetime", text) == text  # the canonical form comes back
    if wide:
        full = text.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        assert round_trip("japanese_datetime", full) == text


@FAST
@given(st.sampled_from(["1", "1.0", "○", "◯", "有", "", "×", "無", "△"]))
def test_flag_round_trip_writes_the_canonical_mark(mark: str) -> None:
    meaning = {"": False, "×": False, "無": False, "△": "conditional"}.get(mark, True)
    expected = {True: "1.0", False: None, "conditional": "△"}[meaning]
    assert round_trip("flag", mark or None, {"write_true": "1.0"}) == expected


@FAST
@given(st.floats(-90, 90, allow_nan=False), st.floats(-180, 180, allow_nan=False))
def test_geo_point_round_trip(lat: float, lon: float) -> None:
    assert round_trip("geo_point", (repr(lat), repr(lon))) == (repr(lat), repr(lon))


@FAST
@given(st.integers(10000, 99999))
def test_municipality_code_round_trip_adds_the_check_digit(five: int) -> None:
    digits = [int(d) for d in str(five)]
    check = (11 - sum(d * w for d, w in zip(digits, (6, 5, 4, 3, 2), strict=True)) % 11) % 10
    assert round_trip("municipality_member", str(five)) == f"{five}{check}"
    assert round_trip("municipality_member", f"{five}{check}") == f"{five}{check}"


@FAST
@given(st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=5), min_size=1,
                       max_size=6))
def test_lookup_round_trip_is_lossless_for_a_one_to_one_table(table: dict[str, str]) -> None:
    s = step("lookup", {"table": table})
    if len(set(table.values())) == len(table):
        assert s.round_trip == "lossless"
        for key in table:
            assert s.reverse(s.forward(key)) == key
    else:
        assert s.round_trip == "lossy"


def test_readme_table_lists_every_transform() -> None:
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    missing = [name for name in TRANSFORMS if f"| `{name}` |" not in readme]
    assert missing == []
