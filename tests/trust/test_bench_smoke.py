"""bench/trust.py --quick runs and prints one JSON object with the agreed keys (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "token_verify_cold_per_s", "jwt_decode_baseline_per_s", "cold_vs_jwt_decode_ratio",
    "token_verify_cached_per_s", "decide_per_s", "dict_lookup_baseline_per_s",
    "decide_vs_dict_lookup_ratio", "cached_verify_plus_decide_us",
    "enforce_mask_and_polygon_area_entities_per_s", "targets", "targets_met",
}


def test_quick_bench_prints_one_json_object() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "trust.py"), "--quick"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=True)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert KEYS <= set(result)
    assert result["quick"] is True
    assert all(isinstance(result[k], int | float) for k in KEYS - {"targets", "targets_met"})
