"""Reverse mapping: the same rule maps a shared-vocabulary entity back to a local row.

For inputs already in the normal form the transforms declare, the round trip gives the row back
exactly; for any input, mapping the reversed row gives the same entity again (the normal form is
a fixed point).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.engine import Mapped, map_records
from mappings.sources import open_records
from mappings.transforms.codes import municipality_check_digit

from .conftest import compiled

REAL = [
    ("nanao_evacuation_sites", "japan/nanao/evacuation_sites.csv"),
    ("nanao_open_shelters", "japan/nanao/open_shelters/open_shelter_Nanao-shi_2024-01-09-1800.csv"),
    ("nanao_open_shelters", "japan/nanao/open_shelters/open_shelter_Nanao-shi_2024-08-31-1300.csv"),
    ("takamatsu_evacuation_space", "japan/takamatsu/evacuation_space.xlsx"),
    ("takamatsu_aed", "japan/takamatsu/aed_location.xlsx"),
    ("takamatsu_parking", "japan/takamatsu/municipal_parking.xlsx"),
    ("takamatsu_toilets", "japan/takamatsu/public_toilet.csv"),
]


@pytest.mark.parametrize("rule_set, file", REAL, ids=[f"{r}:{Path(f).name}" for r, f in REAL])
def test_reversed_rows_map_to_the_same_entities(realdata: Path, rule_set: str,
                                                file: str) -> None:
    rule = compiled(rule_set)
    for result in map_records(rule, open_records(realdata / file)):
        assert isinstance(result, Mapped)
        row = rule.reverse(result.entity)
        assert rule.forward(row) == result.entity, result.row


def test_nanao_row_comes_back_in_its_normal_form(realdata: Path) -> None:
    rule = compiled("nanao_evacuation_sites")
    record = next(r for r in open_records(realdata / "japan/nanao/evacuation_sites.csv")
                  if r.row == 3)
    back = rule.reverse(rule.forward(record))
    # Lossless where the file was already normal; normalized (NFKC, dashes) where it was not.
    assert back["ID"] == "CC0000000505"
    assert back["緯度"] == record.values["緯度"]
    assert back["災害種別_火山現象"] == ""
    assert back["所在地_連結表記"] == "石川県七尾市藤橋町辰部52-1"   # was 藤橋町辰部５２－１
    assert back["対象となる町会・自治会"] == "御祓地区(25町会)"     # was 御祓地区（25町会）
    assert rule.column_round_trip()["所在地_全国地方公共団体コード"] == "lossy"  # the default


def test_shelter_snapshot_time_goes_back_to_a_column(realdata: Path) -> None:
    rule = compiled("nanao_open_shelters")
    path = realdata / "japan/nanao/open_shelters/open_shelter_Nanao-shi_2024-01-09-1800.csv"
    first = next(iter(open_records(path)))
    back = rule.reverse(rule.forward(first))
    # The early file kept the time in a header; the reverse row uses the later layout.
    assert (back["人数"], back["時点"]) == ("180", "令和6年1月9日午後6時")


# -- property: Digital Agency rows in normal form round-trip exactly ---------------------------

KANJI = st.sampled_from(list("七尾市石川県御祓地区小学校体育館公園中島和倉能登島田鶴浜高階"))
KANA = st.sampled_from(list("アイウエオカキクケコサシスセソタチツテト"
                            "ナニヌネノハヒフヘホマミムメモ"))
WORD = st.text(st.sampled_from(list("abcdefghijklmnopqrstuvwxyz")), min_size=1, max_size=8)
HAZARDS = ["災害種別_洪水", "災害種別_崖崩れ、土石流及び地滑り", "災害種別_高潮", "災害種別_地震",
           "災害種別_津波", "災害種別_大規模な火事", "災害種別_内水氾濫", "災害種別_火山現象"]


@st.composite
def da_rows(draw: st.DrawFn) -> dict[str, str]:
    five = draw(st.integers(10000, 99999))
    code = f"{five}{municipality_check_digit(str(five))}"
    indoor, outdoor = draw(st.integers(0, 50_000)), draw(st.integers(0, 50_000))
    note = draw(st.sampled_from(["", "面積の1/2", "座席数"]))
    capacity = f"屋内{indoor:,}人／屋外{outdoor:,}人" + (f"（{note}）" if note else "")
    row = {
        "ID": draw(st.text(st.sampled_from(list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")),
                           min_size=3, max_size=12)),
        "名称": draw(st.text(KANJI, min_size=1, max_size=10)),
        "名称_カナ": draw(st.text(KANA, max_size=10)),
        "名称_英字": " ".join(draw(st.lists(WORD, max_size=3))),
        "所在地_全国地方公共団体コード": code,
        "所在地_連結表記": draw(st.text(KANJI, min_size=1, max_size=6))
        + f"{draw(st.integers(1, 999))}-{draw(st.integers(1, 99))}",
        "所在地_都道府県": draw(st.text(KANJI, max_size=3)),
        "所在地_市区町村": draw(st.text(KANJI, max_size=3)),
        "緯度": repr(round(draw(st.floats(24.0, 45.5)), 6)),
        "経度": repr(round(draw(st.floats(123.0, 153.9)), 6)),
        "標高": repr(round(draw(st.floats(-5, 3000)), 1)),
        "電話番号": draw(st.sampled_from(["", "0767-53-0821", "076-225-1262"])),
        "想定収容人数": draw(st.sampled_from([capacity, ""])),
        "対象となる町会・自治会": draw(st.text(KANJI, max_size=8)),
    }
    for header in HAZARDS:
        row[header] = draw(st.sampled_from(["1.0", ""]))
    return row


@settings(max_examples=80, deadline=None)
@given(da_rows())
def test_digital_agency_rows_in_normal_form_round_trip_exactly(row: dict[str, str]) -> None:
    rule = compiled("da_evacuation_sites")
    entity = rule.forward(row)
    back = rule.reverse(entity)
    assert {k: back[k] for k in row} == row


@settings(max_examples=60, deadline=None)
@given(da_rows(), st.sampled_from(["　", " ", "\n"]), st.booleans())
def test_messy_rows_reach_the_normal_form_in_one_step(row: dict[str, str], space: str,
                                                      wide: bool) -> None:
    rule = compiled("da_evacuation_sites")
    messy = dict(row)
    messy["名称"] = space + row["名称"] + space
    if wide:
        table = str.maketrans("0123456789-", "０１２３４５６７８９－")
        messy["所在地_連結表記"] = row["所在地_連結表記"].translate(table)
        messy["想定収容人数"] = row["想定収容人数"].replace("（", "(").replace("）", ")")
    entity = rule.forward(messy)
    assert entity == rule.forward(row)
    assert rule.forward(rule.reverse(entity)) == entity
