"""Small traps of the CLI an operator fell into (issue 14, ingest and the CLI): a typo'd config
key gets a "did you mean", ``client add`` defaults to ./renkei.toml like every other command,
and ``renkei map --out`` never leaves a half-written file behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from broker.cli.main import build_parser
from broker.config import load_config
from broker.errors import ConfigError
from mappings.loader import bundled_sample

REPO = Path(__file__).resolve().parents[3]
SAMPLE = bundled_sample("nanao_evacuation_sites")
RULES = "bundled:nanao_evacuation_sites"


def test_a_misspelled_key_says_which_key_was_meant(tmp_path: Path) -> None:
    path = tmp_path / "renkei.toml"
    path.write_text('[node]\nid = "jp-172022"\nrole = "city"\n[trust]\n'
                    'authority_jwk = "a.jwk"\n[federation]\ndeadline_secs = 5\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "federation.deadline_secs"
    assert "did you mean 'federation.deadline_seconds'?" in str(info.value)
    path.write_text(path.read_text(encoding="utf-8").replace("deadline_secs", "colour"),
                    encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "did you mean" not in str(info.value)  # nothing close: no guess


@pytest.mark.parametrize("action", [["add", "app", "--purpose", "disaster_response"],
                                    ["list"], ["disable", "client-1"]])
def test_client_commands_default_to_the_config_in_the_current_directory(
        action: list[str]) -> None:
    args = build_parser().parse_args(["client", *action])
    assert args.config == "renkei.toml"


def _map(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout, whatever the cwd
    return subprocess.run([sys.executable, "-m", "broker.cli.main", "map", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=120, env=env)


def test_map_out_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    good = _map(RULES, str(SAMPLE), "--out", str(tmp_path / "sites.jsonl"), cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert len((tmp_path / "sites.jsonl").read_text(encoding="utf-8").splitlines()) > 10

    # A file that stops part-way (an unterminated quote: the row grows past the row limit)
    # after rows that mapped: the run fails and leaves neither --out nor a partial file.
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines[:8]) + '\n"' + "x" * (1024 * 1024 + 10) + "\n",
                      encoding="utf-8")
    bad = _map(RULES, str(broken), "--out", str(tmp_path / "broken.jsonl"), cwd=tmp_path)
    assert bad.returncode == 1 and "row_too_large" in bad.stderr, bad.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.csv", "sites.jsonl"]


def test_a_long_inline_value_is_the_value_not_a_file_name(tmp_path: Path) -> None:
    from broker.cli.common import read_text_arg

    request = "eyJ" + "A" * 1200 + ".eyJ" + "B" * 900 + ".sig"  # a join request, inline
    assert read_text_arg(request) == request  # was OSError: [Errno 36] File name too long
    (tmp_path / "req.jws").write_text("from-file", encoding="utf-8")
    assert read_text_arg(str(tmp_path / "req.jws")) == "from-file"
