"""bench/ingest.py keeps working (a tiny run); the figures themselves are not asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ingest.py"


def test_quick_ingest_bench_prints_one_json_object() -> None:
    result = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip())
    for key in ("map_only_rows_per_s", "ingest_sqlite_rows_per_s", "ingest_vs_map_only_ratio",
                "streaming_ingest_peak_rss_mb", "streaming_ingest_rows"):
        assert key in figures
    assert figures["streaming_ingest_rows"] == 10_000
