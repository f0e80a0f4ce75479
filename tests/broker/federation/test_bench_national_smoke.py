"""The national fan-out benchmark's smoke run (50 simulated cities): what the agency answers.

The figures are not asserted (no timings in tests); what is asserted is what an agency relies
on whatever the machine: one status per city, each city's failure reported as what it was,
receipts verified, a warning per silent city on the NGSI-LD API, calls capped and idle
connections closed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "national.py"


def test_quick_national_run_answers_with_one_status_per_city() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                          text=True, timeout=300, check=True)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0])
    assert result["benchmark"] == "national" and result["quick"] is True
    (size,) = result["sizes"]
    kinds = size["behaviours"]
    assert size["cities"] == 50 == sum(kinds.values())
    assert kinds["stopped"] >= 1 and kinds["slow"] >= 1 and kinds["refuse"] >= 1
    cold = size["query_cold"]
    assert cold["status_per_city"] and sum(cold["statuses"].values()) == 50
    # Cold: stopped cities refuse connections, slow ones run out of time, one refuses.
    assert cold["statuses"] == {"ok": kinds["ok"], "unavailable": kinds["stopped"],
                                "deadline_exceeded": kinds["slow"],
                                "denied": kinds["refuse"]}
    assert cold["entities"] == 5 * kinds["ok"]
    for run in ("query_warm", "aggregate"):
        # Warm: the failed cities are backing off (unavailable) or refuse again.
        assert size[run]["status_per_city"]
        assert size[run]["statuses"]["ok"] == kinds["ok"]
        assert size[run]["statuses"]["denied"] == kinds["refuse"]
    assert size["aggregate"]["count"] == 5 * kinds["ok"]
    ngsild = size["ngsild"]
    assert ngsild["status"] == 200 and ngsild["entities"] == 5 * kinds["ok"]
    assert ngsild["peers_warned"] == ngsild["warning_lines"] == 50 - kinds["ok"]
    # Every answering city's receipt verified, on each of the four calls.
    assert size["receipts"] == {"verified": 4 * kinds["ok"], "refused": 0}
    assert 0 < size["most_calls_in_flight_at_cities"] <= size["max_concurrent_calls"] < 50
    assert size["sockets"]["peak"] > size["sockets"]["before"]
    check = result["checks"]["50"]
    assert check["one_status_per_city"] and check["calls_capped"]
    assert check["connections_closed_when_idle"], size["sockets"]
