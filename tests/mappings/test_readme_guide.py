"""The README's "map your city's file" guide runs as written, and says what it claims."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_guide_runs_as_written(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    block = re.search(r"<!-- guide:map-your-city -->\n```sh\n(.*?)```", readme, re.S)
    assert block, "the guide's shell block is in the README"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-e", "-c", block.group(1)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    # Step 1 refuses (the header says 設置場所) and lists the AED rule with what it lacks.
    assert "unrecognized_dataset" in out or "no bundled rule recognizes" in out
    assert "da_aed" in out and "設置位置" in out
    # Step 2: the overlay checks clean. Step 3: both rows map; the － telephone is dropped.
    assert "city_aed.yaml: ok" in out
    lines = (tmp_path / "city.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == 2
    assert '"urn:ngsi-ld:PointOfInterest:jp-172022:aed-2"' in lines[1]
    assert "telephone" not in lines[1]
    assert "dropped: telephone_placeholder" in out
