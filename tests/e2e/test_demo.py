"""``renkei demo`` as a user runs it: a subprocess, its printed sections and its exit code."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from broker.demo.report import SECTIONS


def test_demo_prints_every_section_and_exits_zero(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "broker.cli.main", "demo"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=240)
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    headings = re.findall(r"^## \d+\. (.+)$", out, flags=re.MULTILINE)
    assert set(SECTIONS) <= set(headings)
    # the directory lists the four members, verified
    for member in ("jp-172022", "jp-372013", "jp-179999", "jp-gov-bousai"):
        assert member in out
    # counts add up in every ingest line
    for read, mapped, quarantined in re.findall(
            r"read\s+(\d+)\s+mapped\s+(\d+)\s+quarantined\s+(\d+)", out):
        assert int(read) == int(mapped) + int(quarantined)
    # the federated query returns rows from each city, and one status line per city
    statuses = re.findall(r"^  status (jp-\d+)\s.*?\s(ok|denied|unavailable|error)\s", out,
                          flags=re.MULTILINE)
    assert {"jp-172022", "jp-372013", "jp-179999"} <= {peer for peer, _ in statuses}
    queries = "".join(part for part in re.split(r"^## \d+\. ", out, flags=re.MULTILINE)
                      if part.startswith("Federated query"))
    rows = re.findall(r"^    (jp-\d+)\s+\S.*capacity\s+\d+\s+[\d.]+ km$", queries,
                      flags=re.MULTILINE)
    assert {"jp-172022", "jp-372013", "jp-179999"} <= set(rows)
    # refusals carry the stable reason the caller got
    assert "reason 'aggregate_only'" in out
    assert "reason 'field_not_allowed'" in out
    # every audit chain verified
    heads = re.findall(r"^  (jp-[\w-]+)\s+entries\s+\d+\s+head \w+…\s+(\w+)", out,
                       flags=re.MULTILINE)
    assert len(heads) == 4 and all(state == "verified" for _, state in heads)


def test_ctrl_c_stops_every_server_cleanly(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "broker.cli.main", "demo", "--keep-running"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    deadline = time.monotonic() + 240
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "keep running" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert "Stopping every node" in out
