"""The benchmark runs (``--quick``) and prints one JSON object with the documented keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "ngsild.py"


def test_bench_quick_prints_one_json_object() -> None:
    proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    result = json.loads(lines[0])
    for key in ("entities", "limit", "connections", "api", "api_no_context",
                "baseline_same_bytes_from_memory", "ratio", "ratio_no_context",
                "target_req_per_s"):
        assert key in result
    assert result["returned"] == result["limit"]
    # Without a context the same page is longer: Renkei's names come back as full IRIs.
    assert result["response_bytes_no_context"] > result["response_bytes"]
    for run in (result["api"], result["api_no_context"],
                result["baseline_same_bytes_from_memory"]):
        assert {"requests", "req_per_s", "errors"} <= set(run) and run["errors"] == 0
