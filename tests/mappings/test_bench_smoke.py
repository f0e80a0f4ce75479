"""The benchmark runs and prints one JSON object with the figures the README reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"compiled_rules_records_per_s", "handwritten_records_per_s", "compiled_vs_handwritten",
        "engine_records_per_s", "pyld_expand_compact_records_per_s", "compiled_vs_pyld",
        "read_rows_per_s", "peak_rss_mb", "end_to_end_sqlite_records_per_s", "targets",
        "targets_met", "rows"}


def test_bench_quick_prints_one_json_object() -> None:
    if not (ROOT.parent / "shared" / "realdata").is_dir():
        pytest.skip("../shared/realdata is not beside the repository")
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "mapping.py"), "--quick"],
                         capture_output=True, text=True, check=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert KEYS <= set(result)
    assert set(result["read_rows_per_s"]) == {"csv_utf8", "csv_cp932", "xlsx",
                                              "xlsx_openpyxl_baseline"}
    assert result["xlsx_vs_openpyxl"] > 0


def test_realdata_score_quick_prints_one_json_object() -> None:
    # The scoring script (README, "Scored on real files"): the first real file, auto-recognized.
    if not (ROOT.parent / "shared" / "realdata").is_dir():
        pytest.fail("../shared/realdata is not beside the repository")
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "realdata_score.py"), "--quick"],
                         capture_output=True, text=True, check=True, timeout=120)
    result = json.loads(out.stdout)
    [scored] = result["files"]
    assert scored["rule"] == "da_evacuation_sites"
    assert scored["rows"] == scored["right"] + scored["quarantined_explained"] + scored["wrong"]
    assert result["summary"]["files_wrong_type"] == 0
