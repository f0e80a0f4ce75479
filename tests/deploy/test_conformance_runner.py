"""`make conformance`'s runner: a fresh dev-open node, the ETSI suite's harness, a JSON table."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from ..conftest import REPO, SHARED


async def test_runner_starts_a_node_runs_a_suite_file_and_reports_it(tmp_path: Path) -> None:
    # Three creation tests (a plain entity, one with a context, one with sub-attributes): the
    # node must accept writes without a token and serve the suite's @contexts from local copies.
    assert (SHARED / "etsi" / "run.sh").is_file(), f"the ETSI suite is not in {SHARED / 'etsi'}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "deploy" / "conformance.py"), "--parts",
        "Provision/Entities", "--out", str(tmp_path), "--robot-args", "--test 001_01_0*",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, text[-3000:]
    document = json.loads(text.strip().splitlines()[-1])
    assert document == json.loads((tmp_path / "conformance.json").read_text())
    (part,) = document["parts"]
    assert part["part"] == "Provision/Entities" and part["total"] >= 3, part
    assert part["passed"] == part["total"], (tmp_path / "Provision-Entities" /
                                             "failed-tests.txt").read_text()
    # Scorpio's figures come from the suite's published report.
    assert (part["scorpio_passed"], part["scorpio_total"]) == (55, 55)
    assert "Provision/Entities" in text and "55/55" in text
