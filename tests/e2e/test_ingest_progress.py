"""A long ingest says how far it is (issue 14): percent, rows, rate and time left.

As an operator meets it, as processes whose stderr is a pipe (a log, not a terminal):
``renkei map RULES INPUT``, ``renkei map --config`` and ``renkei node run`` each print progress
lines while a source of several batches is read, percent rising to 100.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import re
import signal
import sys
from pathlib import Path

from broker.config import load_config
from broker.demo.harness import LocalFederation, NodeSpec
from broker.identity import init_identity
from mappings.loader import bundled_sample

CITY = "jp-172022"
RULES = "bundled:nanao_evacuation_sites"
ROWS = 6000  # three ingest batches of 2000
LINE = re.compile(r"^ingest (\S+): (\d+)% \([\d.]+ of [\d.]+ (?:kB|MB)\), ([\d,]+) rows, "
                  r"[\d,]+ rows/s(, about [\d.]+ (s|min|h) left)?$")
READY = re.compile(r"^renkei node \S+: gRPC \S+ \(TLS\), HTTP (\S+); directory v\d+$")


def big_source(tmp_path: Path) -> Path:
    """The bundled sample's rows repeated under fresh ids, ``ROWS`` in all."""
    text = bundled_sample("nanao_evacuation_sites").read_text(encoding="utf-8-sig")
    header, *rows = csv.reader(io.StringIO(text))
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\r\n")
        out.writerow(header)
        for n in range(ROWS):
            out.writerow([f"CC{n:010d}", *rows[n % len(rows)][1:]])
    return path


def progress_of(stderr: str, name: str) -> list[tuple[int, int]]:
    """(percent, rows) of every progress line for ``name``."""
    found = []
    for line in stderr.splitlines():
        m = LINE.match(line.strip())
        if m and m.group(1) == name:
            found.append((int(m.group(2)), int(m.group(3).replace(",", ""))))
    return found


async def renkei(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli.main", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def assert_rising_to_all(lines: list[tuple[int, int]], stderr: str) -> None:
    assert len(lines) >= 2, stderr
    assert [p for p, _ in lines] == sorted(p for p, _ in lines), lines
    assert lines[-1] == (100, ROWS), lines
    assert lines[0][0] < 100, lines


async def test_map_of_one_file_prints_progress_lines_on_a_pipe(tmp_path: Path) -> None:
    source = big_source(tmp_path)
    code, _, err = await renkei("map", RULES, str(source), "--dry-run", "--progress-every", "0")
    assert code == 0, err
    lines = progress_of(err, "big.csv")
    assert len(lines) >= 2, err
    assert [p for p, _ in lines] == sorted(p for p, _ in lines), lines
    assert lines[-1][0] == 100, lines


async def test_map_config_and_node_run_report_each_source_as_it_goes(tmp_path: Path) -> None:
    source = big_source(tmp_path)
    fed = LocalFederation(tmp_path / "fed")
    await fed.start_authority()
    try:
        config = fed.write_config(NodeSpec(
            CITY, "city", "七尾市", "Nanao",
            sources=[{"name": "sites", "rules": RULES, "path": str(source)}],
            extra_toml="\n[ingest]\nwatch_seconds = 0\nprogress_seconds = 0\n"))
        init_identity(load_config(config))
        code, out, err = await renkei("map", "--config", str(config), "--progress-every", "0")
        assert code == 0, err
        assert f"read {ROWS} = mapped {ROWS}" in out
        assert_rising_to_all(progress_of(err, "sites"), err)

        # The running node writes the same lines to its log at start-up ingest.
        log = tmp_path / "node.log"
        with log.open("wb") as stderr:  # the child holds its own copy; ours closes here
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "broker.cli.main", "node", "run", "--config",
                str(config), stdout=asyncio.subprocess.PIPE, stderr=stderr)
        try:
            assert proc.stdout is not None
            ready = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert READY.match(ready.strip()), (ready, log.read_text(errors="replace"))
            line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
            assert line.startswith(f"ingest sites: read {ROWS}"), line
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
        text = log.read_text(errors="replace")
        messages = "\n".join(line.partition(" INFO renkei.sources: ")[2]
                             for line in text.splitlines())
        assert_rising_to_all(progress_of(messages, "sites"), text)
    finally:
        await fed.authority.stop()  # type: ignore[union-attr]
