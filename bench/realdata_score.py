"""Score the bundled rules on every real file in ../shared/realdata, with no edits.

For each file, ``auto`` picks the rule (recognition); the file is mapped; and every source row
is read again independently of the engine (Python's csv / openpyxl, NFKC) for what any place
must get right: its local id, its name and its coordinates. A row is **right** when its entity
carries exactly those; a quarantined row is **explained** when the independent reading finds a
real source error in it (a blank name or id, a coordinate that is blank, not a number or
outside Japan, an id shared with another row, a municipality code whose check digit is wrong);
anything else is **wrong** (mapped with a different value, or quarantined for no reason found).
Prints one JSON object; ``--table`` prints a Markdown table instead; ``--quick`` scores the
first file only (the test suite's smoke run).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import openpyxl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mappings.engine import Mapped, Quarantined  # noqa: E402
from mappings.loader import bundled_rules, load_rules  # noqa: E402
from mappings.recognize import file_header, rank_rules  # noqa: E402
from mappings.report import run_map  # noqa: E402

REALDATA = ROOT.parent / "shared" / "realdata"
#: What each file is (written by reading the files, not by running the engine).
EXPECTED_TYPE = {
    "evacuation_sites.csv": "EvacuationSite",
    "open_shelter_": "ShelterOccupancy",
    "evacuation_space.xlsx": "EvacuationSite",
    "aed_location.xlsx": "PointOfInterest",
    "municipal_parking.xlsx": "OffStreetParking",
    "public_toilet.csv": "PointOfInterest",
}
ID = ("ID", "NO", "identification", "#property")
NAME = ("名称", "name")
LAT = ("緯度", "latitude")
LON = ("経度", "longitude")
CODE = ("所在地_全国地方公共団体コード", "全国地方公共団体コード", "prefCode")


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return unicodedata.normalize("NFKC", str(v)).strip()


def rows(path: Path) -> list[dict[str, str]]:
    """The file's rows, read without the engine."""
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04":
        ws = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        values = [[_text(c) for c in r] for r in ws.iter_rows(values_only=True)]
        header = values[0]
        return [dict(zip(header, r, strict=False)) for r in values[1:] if any(r)]
    for enc in ("utf-8-sig", "cp932"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    return [{k: _text(v) for k, v in r.items()} for r in csv.DictReader(io.StringIO(text))]


def _pick(row: dict[str, str], names: tuple[str, ...]) -> str:
    # The id column: the preferred name the file has (Takamatsu's toilets carry both an
    # `identification` and a `#property`; the rule reads `identification`).
    for n in names:
        if n in row:
            return row[n]
    return ""


def _check_digit_ok(code: str) -> bool:
    if len(code) != 6 or not code.isdigit():
        return len(code) in (0, 5)
    total = sum(int(d) * w for d, w in zip(code[:5], (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10 == int(code[5])


def source_error(row: dict[str, str], ids: Counter[str]) -> str | None:
    """The real problem of a row, as a reader of the file sees it; None when there is none."""
    local = _pick(row, ID)
    if not local:
        return "blank id"
    if ids[local] > 1:
        return "id shared with another row"
    if not _pick(row, NAME):
        return "blank name"
    for names, lo, hi in ((LAT, 20.0, 46.0), (LON, 122.0, 154.0)):
        raw = _pick(row, names)
        try:
            value = float(raw)
        except ValueError:
            return f"coordinate {raw!r} is not a number"
        if not lo <= value <= hi:
            return f"coordinate {raw} outside Japan"
    if not _check_digit_ok(_pick(row, CODE)):
        return "municipality code check digit"
    if any(c in row for c in CODE) and not _pick(row, CODE):
        # The layout requires the code; without it no generic rule can tell whose site it is
        # (a city overlay or --param member=... supplies it).
        return "blank municipality code"
    return None


def _entity_name(entity: dict[str, Any]) -> str:
    name = entity.get("name") or {}
    value = name.get("languageMap", {}).get("ja") if "languageMap" in name else name.get("value")
    return str(value or "")


def score(path: Path) -> dict[str, Any]:
    results: list[Mapped | Quarantined] = []
    report = run_map("auto", path, on_result=results.append)
    expected_type = next(t for k, t in EXPECTED_TYPE.items() if path.name.startswith(k))
    source = rows(path)
    ids = Counter(_pick(r, ID) for r in source)
    by_row = {r.row: r for r in results}
    right = explained = wrong = 0
    reasons: Counter[str] = Counter()
    problems: list[str] = []
    for i, row in enumerate(source, start=2):
        result = by_row.get(i)
        error = source_error(row, ids)
        if isinstance(result, Mapped):
            e = result.entity
            coords = e.get("location", {}).get("value", {}).get("coordinates")
            want = [float(_pick(row, LON)), float(_pick(row, LAT))] if error is None else None
            ok = (error is None and e["type"] == expected_type
                  and e["id"].rsplit(":", 1)[1].rsplit("-", 1)[-1] == _pick(row, ID)
                  and _entity_name(e) == " ".join(_pick(row, NAME).split()) and coords == want)
            right += ok
            wrong += not ok
            if not ok and len(problems) < 5:
                problems.append(f"row {i}: mapped but {error or 'values differ'}")
        elif isinstance(result, Quarantined):
            reasons[result.code] += 1
            if error is not None:
                explained += 1
            else:
                wrong += 1
                if len(problems) < 5:
                    problems.append(f"row {i}: quarantined {result.code} with no source error")
        else:
            wrong += 1
            problems.append(f"row {i}: no result")
    total = len(source)
    # Every other bundled rule, given this file by name: one whose signature the header has
    # and whose type differs would map the file as the wrong type.
    accepts = [f.rule for f in rank_rules(file_header(path)) if f.fits]
    wrong_type_rules = [r for r in accepts
                        if load_rules(bundled_rules(r)).target_type != expected_type]
    total = len(source)
    return {"file": str(path.relative_to(REALDATA)), "rule": report.rule,
            "rules_accepting": accepts, "rules_accepting_as_wrong_type": wrong_type_rules,
            "type_right": all(isinstance(r, Quarantined) or r.entity["type"] == expected_type
                              for r in results),
            "rows": total, "right": right, "quarantined_explained": explained, "wrong": wrong,
            "score": round((right + explained) / total, 4) if total else 1.0,
            "quarantine_codes": dict(reasons), "notices": dict(report.counts.notices),
            "warnings": list(report.warnings), "problems": problems}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the first file only")
    parser.add_argument("--table", action="store_true", help="Markdown table, not JSON")
    args = parser.parse_args()
    files = sorted(p for p in REALDATA.rglob("*") if p.suffix in (".csv", ".xlsx"))
    if args.quick:
        files = files[:1]
    scored = [score(p) for p in files]
    total = sum(s["rows"] for s in scored)
    good = sum(s["right"] + s["quarantined_explained"] for s in scored)
    summary = {"files": len(scored), "files_wrong_type": sum(not s["type_right"] for s in scored),
               "wrong_type_acceptances": sum(len(s["rules_accepting_as_wrong_type"])
                                             for s in scored),
               "rows": total, "rows_right_or_explained": good,
               "score": round(good / total, 4) if total else 1.0}
    if not args.table:
        print(json.dumps({"summary": summary, "files": scored}, ensure_ascii=False))
        return
    print("| file | rule chosen by `auto` | rows | right | quarantined (real error) | wrong |"
          " quarantine codes | dropped | other rules accepting it |")
    print("|---|---|---:|---:|---:|---:|---|---|---|")
    for s in scored:
        codes = ", ".join(f"{k} {v}" for k, v in sorted(s["quarantine_codes"].items())) or "–"
        notes = ", ".join(f"{k} {v}" for k, v in sorted(s["notices"].items())) or "–"
        print(f"| {s['file']} | {s['rule']} | {s['rows']} | {s['right']} | "
              f"{s['quarantined_explained']} | {s['wrong']} | {codes} | {notes} | "
              f"{', '.join(r for r in s['rules_accepting'] if r != s['rule']) or '–'} |")
    print(f"| **all {summary['files']} files** | wrong type: {summary['files_wrong_type']} | "
          f"{total} | | | | score {summary['score']:.1%} | | rules accepting a file as the "
          f"wrong type: {summary['wrong_type_acceptances']} |")


if __name__ == "__main__":
    main()
