"""``bench/store.py --quick`` runs as one command and prints one JSON object with every key.

It starts real ``renkei node run`` processes and reads over HTTP. Keys only: timings on a
shared CI machine say nothing, so none is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "store.py"
CONFIGS = ("sqlite_1", "postgresql_1", "postgresql_2")
METRICS = ("replicas", "ingest_rows_per_s", "get_entities_req_per_s", "ingest_ratio",
           "get_entities_ratio")


@pytest.mark.timeout(320)
def test_quick_bench_prints_one_json_object_with_every_figure() -> None:
    # The bench reads RENKEI_TEST_PG_DSN as the tests do; unreachable, its rows are null.
    done = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert {"benchmark", "quick", "entities", "baseline", "ingest_path", "read_path",
            "environment", "results"} <= set(report)
    assert report["quick"] is True
    assert "HTTP GET /ngsi-ld/v1/entities?type=EvacuationSite&limit=100" in report["read_path"]
    assert set(report["results"]) == set(CONFIGS)
    for name in CONFIGS:
        assert set(METRICS) <= set(report["results"][name])
    assert report["results"]["sqlite_1"]["ingest_ratio"] == 1.0
