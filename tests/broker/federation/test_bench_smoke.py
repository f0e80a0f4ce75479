"""The federation benchmark runs and prints one JSON object with the documented keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "federation.py"


def test_quick_benchmark_prints_one_json_object_with_its_figures() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                          text=True, timeout=240, check=True)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0])
    assert {"benchmark", "quick", "streaming", "fanout", "machine"} <= set(result)
    assert {"entities_per_s", "raw_echo_entities_per_s", "ratio_to_raw_echo",
            "cold_first_run_entities_per_s", "without_index_entities_per_s",
            "fanout_client_entities_per_s", "fanout_client_dicts_entities_per_s",
            "fanout_ratio_to_provider_stream", "entities_streamed"} <= set(result["streaming"])
    assert {"peers", "deadline_s", "elapsed_s", "elapsed_over_deadline", "statuses",
            "stopped_peer_status"} <= set(result["fanout"])
