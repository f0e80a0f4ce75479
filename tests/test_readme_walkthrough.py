"""The README's "First federation by hand" runs as written (issue 14, done-when).

The test takes the shell block under that heading out of README.md and runs it with bash, as
a newcomer pastes it, from the repository root with ``renkei`` on PATH. Only the variables the
block itself offers are set: a working directory and free ports. Its real processes (an
authority, a city, an agency) must end with a federated answer the agreement allows.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEADING = "### First federation by hand"


def walkthrough() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(HEADING)
    block = re.search(r"^```sh\n(.*?)^```$", text[start:], re.S | re.M)
    assert block is not None, "no ```sh block under the heading"
    return block.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(480)  # three processes started and stopped, a dozen CLI runs
def test_the_first_federation_by_hand_runs_as_the_readme_says(tmp_path: Path) -> None:
    work = tmp_path / "first"
    env = {**os.environ, "W": str(work),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in ("AUTHORITY", "CITY_GRPC", "CITY_HTTP", "AGENCY_GRPC", "AGENCY_HTTP"):
        env[name] = f"127.0.0.1:{free_port()}"
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", walkthrough()], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=420)
    out = run.stdout + run.stderr
    logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                     for p in work.glob("*/log.txt"))
    assert run.returncode == 0, out[-6000:] + logs

    # Each step said what an operator expects to read.
    assert re.search(r"^admitted jp-172022 \(七尾市 / Nanao City, city\)", out, re.M), out
    assert re.search(r"^admitted jp-gov-bousai ", out, re.M), out
    assert re.search(r"^published directory version 1 \(2 members\)$", out, re.M), out
    assert re.search(r"^ingest evacuation_sites: read 112, mapped 112, quarantined 0$", out,
                     re.M), out
    assert re.search(r"^proposed agr-first", out, re.M), out
    assert "signed agr-first: active" in out
    assert re.search(r"^jp-172022 Nanao City \(city\) \S+: ok; answers its health check now$",
                     out, re.M), out
    assert "every city answered" in out

    # The dashboard got the city's sites through its agency, masked to what was agreed.
    sites = json.loads((work / "sites.json").read_text(encoding="utf-8"))
    assert len(sites) == 3
    for site in sites:
        assert site["type"] == "EvacuationSite"
        assert site["id"].startswith("urn:ngsi-ld:EvacuationSite:jp-172022:")
        assert set(site) <= {"id", "type", "name", "capacity", "location"}, sorted(site)
        assert {"name", "location"} <= set(site)
    # The script's trap stopped every process it started: their logs end with a stop line.
    for member in ("city", "agency"):
        assert "stopping" in (work / member / "console.txt").read_text(encoding="utf-8")
