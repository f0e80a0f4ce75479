"""The ``renkei`` command line: help everywhere, one-line errors, no tracebacks."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from broker.cli.main import build_parser, main


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
              ) -> list[tuple[str, ...]]:
    out = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _commands(sub, prefix + (name,))
    return out


ALL = _commands(build_parser())


def test_the_cli_has_the_commands_the_readme_documents() -> None:
    names = {" ".join(c) for c in ALL}
    for expected in ("demo", "node init", "node run", "node join-request", "authority init",
                     "authority add-member", "authority admit", "authority revoke",
                     "authority publish", "authority serve", "map", "rules check",
                     "quarantine list", "agreement propose", "agreement sign",
                     "agreement show", "agreement list", "agreement revoke", "audit verify"):
        assert expected in names


@pytest.mark.parametrize("command", ALL, ids=lambda c: " ".join(c) or "renkei")
def test_every_command_has_help(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
                                ) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: renkei" in capsys.readouterr().out


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "broker.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_errors_are_one_line_with_a_reason_and_a_non_zero_exit(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[node]\nid = "jp-1"\nrole = "town"\n')
    result = run_cli("audit", "verify", "--config", "bad.toml", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "node.role" in result.stderr and "bad.toml" in result.stderr

    result = run_cli("authority", "publish", "--dir", "nowhere", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no_authority" in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run_cli("--debug", "authority", "publish", "--dir", "nowhere", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_authority_and_node_join_flow_through_the_cli(tmp_path: Path) -> None:
    assert run_cli("authority", "init", "--dir", "auth", cwd=tmp_path).returncode == 0
    (tmp_path / "node.toml").write_text(
        '[node]\nid = "jp-172022"\nrole = "city"\nname_ja = "七尾市"\nname_en = "Nanao"\n'
        'data_dir = "nanao"\n[grpc]\nlisten = "127.0.0.1:7443"\n'
        '[trust]\nauthority_jwk = "auth/authority.jwk.json"\n', encoding="utf-8")
    init = run_cli("node", "init", "--config", "node.toml", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    key = tmp_path / "nanao" / "node.key"
    assert key.stat().st_mode & 0o777 == 0o600
    request = init.stdout.strip().splitlines()[-1]
    (tmp_path / "join.txt").write_text(request)
    admit = run_cli("authority", "admit", "--dir", "auth", "@join.txt", cwd=tmp_path)
    assert admit.returncode == 0, admit.stderr
    assert "admitted jp-172022" in admit.stdout
    publish = run_cli("authority", "publish", "--dir", "auth", cwd=tmp_path)
    assert "version 1 (1 members)" in publish.stdout
    again = run_cli("authority", "admit", "--dir", "auth", "@join.txt", cwd=tmp_path)
    assert again.returncode != 0 and "member_exists" in again.stderr
