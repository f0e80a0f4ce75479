"""Recognition, never misclassification: a rule refuses another dataset's file, `auto` picks
the rule by the header, a renamed workbook is read by its bytes, duplicate ids are quarantined,
and the rule-authoring fixes (YAML `NO`, overlay aliases, names checked against the vocabulary).

Files are written here from the Digital Agency's published headers, not copied from a city."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from mappings import check_rules, run_map
from mappings.engine import Mapped, Quarantined, map_records
from mappings.errors import RuleError, SourceError
from mappings.loader import bundled_rules, parse_rules
from mappings.recognize import choose_rule
from mappings.sources import Position, SourceRecord, open_records

from .conftest import compiled

AED_OLD = (
    "都道府県コード又は市区町村コード,NO,都道府県名,市区町村名,名称,"
    "名称_カナ,住所,方書,緯度,経度,設置位置,電話番号,内線番号,法人番号,"
    "団体名,利用可能曜日,開始時間,終了時間,利用可能日時特記事項,"
    "小児対応設備の有無,URL,備考"
).split(",")
TOILET_OLD = (
    "都道府県コード又は市区町村コード,NO,都道府県名,市区町村名,名称,"
    "名称_カナ,名称_英語,住所,方書,設置位置,緯度,経度,男性トイレ総数,"
    "男性トイレ数（小便器）,男性トイレ数（和式）,男性トイレ数（洋式）,"
    "女性トイレ総数,女性トイレ数（和式）,女性トイレ数（洋式）,男女共用トイレ総数,"
    "男女共用トイレ数（和式）,男女共用トイレ数（洋式）,多機能トイレ数,"
    "車椅子使用者用トイレ有無,乳幼児用設備設置トイレ有無,"
    "オストメイト設置トイレ有無,利用開始時間,利用終了時間,利用可能時間特記事項,"
    "画像,画像_ライセンス,備考"
).split(",")
EVAC_OLD = (
    "NO,名称,名称_カナ,住所,方書,緯度,経度,標高,電話番号,内線番号,"
    "市区町村コード,都道府県名,市区町村名,災害種別_洪水,"
    "災害種別_崖崩れ、土石流及び地滑り,災害種別_高潮,災害種別_地震,"
    "災害種別_津波,災害種別_大規模な火事,災害種別_内水氾濫,災害種別_火山現象,"
    "指定避難所との重複,想定収容人数,対象となる町会・自治会,URL,備考"
).split(",")

# イベント一覧: the older 推奨データセット headers and the current 正式版 ones.
EVENT_OLD = (
    "都道府県コード又は市区町村コード,NO,都道府県名,市区町村名,イベント名,イベント名_カナ,"
    "イベント名_英語,開始日,終了日,開始時間,終了時間,開始日時特記事項,説明,料金(基本),"
    "料金(詳細),連絡先名称,連絡先電話番号,連絡先内線番号,主催者,場所名称,住所,方書,緯度,経度,"
    "アクセス方法,駐車場情報,定員,参加申込終了日,参加申込終了時間,参加申込方法,URL,備考"
).split(",")
EVENT_NEW = (
    "全国地方公共団体コード,ID,地方公共団体名,イベント名,イベント名_カナ,イベント名_英語,開始日,"
    "終了日,開始時間,終了時間,開始日時特記事項,説明,料金_基本,料金_詳細,連絡先名称,"
    "連絡先電話番号,連絡先内線番号,主催者,場所名称,住所,方書,緯度,経度,アクセス方法,駐車場情報,"
    "定員,参加申込終了日,参加申込終了時間,参加申込方法,URL,備考"
).split(",")


def _csv(path: Path, header: list[str], rows: list[dict[str, str]], encoding: str = "utf-8") \
        -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(header)
        for row in rows:
            w.writerow([row.get(h, "") for h in header])
    return path


def _aed_rows() -> list[dict[str, str]]:
    return [{"都道府県コード又は市区町村コード": "172022", "NO": str(i), "名称": f"施設{i}",
             "住所": "石川県七尾市", "緯度": "37.04", "経度": "136.96", "設置位置": "1階"}
            for i in range(1, 4)]


def test_an_aed_file_given_to_the_evacuation_rule_is_refused_naming_the_aed_rule(
        tmp_path: Path) -> None:
    path = _csv(tmp_path / "aed.csv", AED_OLD, _aed_rows(), "cp932")
    with pytest.raises(SourceError) as err:
        list(map_records(compiled("da_evacuation_sites"), open_records(path)))
    assert err.value.code == "wrong_dataset"
    assert "bundled:da_aed" in str(err.value)
    assert "災害種別_" in str(err.value)


def test_a_toilet_file_given_to_the_aed_rule_is_refused_naming_the_toilet_rule(
        tmp_path: Path) -> None:
    row = {"NO": "1", "名称": "公衆トイレ", "緯度": "37.0", "経度": "136.9", "設置位置": "駅前"}
    path = _csv(tmp_path / "toilets.csv", TOILET_OLD, [row])
    with pytest.raises(SourceError) as err:
        list(map_records(compiled("da_aed"), open_records(path)))
    assert err.value.code == "wrong_dataset"
    assert "bundled:da_toilets" in str(err.value)


@pytest.mark.parametrize("header, rule", [(AED_OLD, "da_aed"), (TOILET_OLD, "da_toilets"),
                                          (EVAC_OLD, "da_evacuation_sites"),
                                          (EVENT_OLD, "da_events"), (EVENT_NEW, "da_events")])
def test_auto_recognizes_the_layout_by_its_header(tmp_path: Path, header: list[str],
                                                  rule: str) -> None:
    path = _csv(tmp_path / "x.csv", header, [{"名称": "x"}])
    assert choose_rule(path)[0] == rule


@pytest.mark.parametrize("rule", ["da_tourism", "da_public_facilities", "da_evacuation_sites"])
def test_an_event_list_given_to_a_place_rule_is_refused_naming_the_event_rule(
        tmp_path: Path, rule: str) -> None:
    row = {"全国地方公共団体コード": "172022", "ID": "E1", "イベント名": "港まつり",
           "開始日": "2025-07-19", "料金_基本": "無料", "緯度": "37.05", "経度": "136.96"}
    path = _csv(tmp_path / "events.csv", EVENT_NEW, [row], "cp932")
    with pytest.raises(SourceError) as err:
        list(map_records(compiled(rule), open_records(path)))
    assert err.value.code == "wrong_dataset"
    assert "bundled:da_events" in str(err.value)


def test_auto_maps_an_event_list_in_cp932(tmp_path: Path) -> None:
    rows = [{"都道府県コード又は市区町村コード": "172022", "NO": str(i), "イベント名": f"教室{i}",
             "開始日": f"令和7年8月{i}日", "連絡先電話番号": "0767-53-1111"} for i in (1, 2)]
    path = _csv(tmp_path / "events.csv", EVENT_OLD, rows, "cp932")
    rule, _ = choose_rule(path)
    results = list(map_records(compiled(rule), open_records(path)))
    assert [r.entity["id"] for r in results if isinstance(r, Mapped)] == [
        "urn:ngsi-ld:Event:jp-172022:1", "urn:ngsi-ld:Event:jp-172022:2"]
    assert [r.entity["startDate"]["value"] for r in results if isinstance(r, Mapped)] == [
        "2025-08-01", "2025-08-02"]


def test_auto_stops_for_a_header_no_rule_knows(tmp_path: Path) -> None:
    path = _csv(tmp_path / "x.csv", ["番号", "店名", "緯度", "経度"], [{"店名": "x"}])
    with pytest.raises(SourceError) as err:
        choose_rule(path)
    assert err.value.code == "unrecognized_dataset"
    # The closest candidates are listed with what each lacks.
    assert "closest: da_" in str(err.value) and "none of the columns" in str(err.value)


def test_auto_maps_an_older_evacuation_layout_with_no_edits(tmp_path: Path) -> None:
    rows = [{"NO": "1", "名称": "七尾小学校", "住所": "石川県七尾市", "緯度": "37.04",
             "経度": "136.96", "市区町村コード": "172022", "災害種別_洪水": "○",
             "災害種別_地震": "○（２階）", "電話番号": "－", "想定収容人数": "300"}]
    path = _csv(tmp_path / "sites.csv", EVAC_OLD, rows, "cp932")
    out = tmp_path / "out.jsonl"
    with out.open("wb") as f:
        report = run_map("auto", path, out=f)
    assert report.rule == "da_evacuation_sites"
    assert (report.counts.read, report.counts.mapped) == (1, 1)
    assert report.counts.notices == {"telephone_placeholder": 1, "flag_note": 1}
    import orjson
    entity = orjson.loads(out.read_bytes().splitlines()[0])
    assert entity["id"] == "urn:ngsi-ld:EvacuationSite:jp-172022:1"
    assert entity["suitableFor"]["value"] == ["flood", "earthquake"]
    assert "telephone" not in entity


def test_a_misspelt_hazard_header_is_read_and_an_unknown_one_is_a_warning(
        tmp_path: Path) -> None:
    header = ["ID", "名称", "緯度", "経度", "所在地_全国地方公共団体コード",
              "災害種別_崖崩れ_土石流及び地滑り", "災害種別_大規模火事", "災害種別_竜巻"]
    row = {"ID": "A1", "名称": "x", "緯度": "37.0", "経度": "136.9",
           "所在地_全国地方公共団体コード": "172022", "災害種別_崖崩れ_土石流及び地滑り": "1",
           "災害種別_大規模火事": "1", "災害種別_竜巻": "1"}
    path = _csv(tmp_path / "sites.csv", header, [row])
    report = run_map(bundled_rules("da_evacuation_sites"), path)
    assert report.counts.mapped == 1
    [warning] = report.warnings
    assert "災害種別_竜巻" in warning
    [result] = map_records(compiled("da_evacuation_sites"), open_records(path))
    assert isinstance(result, Mapped)
    assert result.entity["suitableFor"]["value"] == ["sediment_disaster", "large_fire"]


def test_an_xlsx_named_csv_is_read_as_a_workbook(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(AED_OLD)
    for row in _aed_rows():
        ws.append([row.get(h, "") for h in AED_OLD])
    path = tmp_path / "aed.csv"
    wb.save(path)
    report = run_map(bundled_rules("da_aed"), path)
    assert (report.counts.read, report.counts.mapped) == (3, 3)
    assert any("xlsx" in w for w in report.warnings)


def test_duplicate_ids_are_quarantined_every_row_naming_the_others(tmp_path: Path) -> None:
    rows = _aed_rows()
    rows[2]["NO"] = "1"  # two different AEDs under one id
    path = _csv(tmp_path / "aed.csv", AED_OLD, rows)
    results = list(map_records(compiled("da_aed"), open_records(path), unique_ids=True))
    assert [type(r).__name__ for r in results] == ["Quarantined", "Mapped", "Quarantined"]
    first, _, third = results
    assert isinstance(first, Quarantined) and isinstance(third, Quarantined)
    assert (first.code, first.row, third.row) == ("duplicate_id", 2, 4)
    assert "4" in first.message and "2" in third.message
    assert first.record["名称"] == "施設1" and third.record["名称"] == "施設3"
    report = run_map(bundled_rules("da_aed"), path)
    assert (report.counts.mapped, report.counts.quarantined) == (1, 2)
    assert report.counts.by_code == {"duplicate_id": 2}


def test_results_held_for_the_id_check_come_back_exactly_and_not_from_memory(
        tmp_path: Path) -> None:
    """The whole input waits on disk for the duplicate check: every result comes back as it
    was mapped (entity, row, position, rule; quarantined rows with their raw record), and
    holding 20,000 rows costs little memory (held as objects they took ~7 KB a row)."""
    import tracemalloc

    rows = [{**_aed_rows()[0], "NO": str(i), "名称": f"施設{i}"} for i in range(1, 20_001)]
    for i in (10, 500, 19_999):
        rows[i]["緯度"] = "north"  # quarantined: not a number
    path = _csv(tmp_path / "aed.csv", AED_OLD, rows)
    rule = compiled("da_aed")
    plain = list(map_records(rule, open_records(path)))
    assert sum(isinstance(r, Quarantined) for r in plain) == 3
    tracemalloc.start()
    try:
        held = map_records(rule, open_records(path), unique_ids=True)
        first = next(held)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [first, *held] == plain
    assert peak < 40 * 1024 * 1024, peak  # all 20,000 as objects: ~140 MB


def test_rule_yaml_keeps_no_and_yes_as_text() -> None:
    rule = parse_rules("""
renkei_rules: 1
name: t
target: {type: PointOfInterest, id: "urn:ngsi-ld:PointOfInterest:x:{n}"}
columns:
  n: [NO, yes, on]
attributes:
  name: {from: n}
""")
    assert rule.columns[0].headers == ("NO", "yes", "on")


def test_an_overlay_may_add_header_aliases(tmp_path: Path) -> None:
    overlay = tmp_path / "city.yaml"
    base = bundled_rules("da_aed")
    overlay.write_text(f"""renkei_rules: 1
extends: {base}
name: city_aed
params: {{member: jp-172022}}
columns:
  設置位置: [設置場所]
""", encoding="utf-8")
    header = [h if h != "設置位置" else "設置場所" for h in AED_OLD]
    rows = [{**r, "設置場所": "2階"} for r in _aed_rows()]
    path = _csv(tmp_path / "aed.csv", header, rows)
    report = run_map(overlay, path)
    assert report.counts.mapped == 3


def test_an_overlay_column_the_base_lacks_is_reported(tmp_path: Path) -> None:
    overlay = tmp_path / "city.yaml"
    overlay.write_text(f"renkei_rules: 1\nextends: {bundled_rules('da_aed')}\n"
                       "columns:\n  設置場所: [x]\n", encoding="utf-8")
    check = check_rules(overlay)
    assert not check.ok and "no column '設置場所'" in check.lines()[0]


def test_rules_check_refuses_attribute_names_outside_the_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("""renkei_rules: 1
name: t
target: {type: EvacuationSite, id: "urn:ngsi-ld:EvacuationSite:x:{n}"}
attributes:
  indoorCapacty: {from: n, pipe: [to_int]}
  address:
    fields:
      ward: {from: w}
""", encoding="utf-8")
    lines = check_rules(path).lines()
    assert any(":5:" in line and "indoorCapacity" in line for line in lines)
    assert any(":8:" in line and "'ward'" in line for line in lines)


def test_a_misspelt_bundled_rule_name_is_a_rule_error_with_a_suggestion() -> None:
    with pytest.raises(RuleError) as err:
        bundled_rules("da_aeds")
    assert "did you mean 'da_aed'" in str(err.value)


def test_a_wrong_check_digit_says_which_digit_it_should_be() -> None:
    [result] = map_records(compiled("da_aed"), [_record({
        "全国地方公共団体コード": "172023", "ID": "1", "名称": "x", "緯度": "37.0", "経度": "136.9",
        "設置位置": "1階"})])
    assert isinstance(result, Quarantined) and result.code == "municipality_code_invalid"
    assert "check digit" in result.message and "172022" in result.message


def _record(values: dict[str, str]) -> SourceRecord:
    return SourceRecord("<test>", 2, values, Position(0, 2), tuple(values))
