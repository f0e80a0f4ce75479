"""The ``renkei`` command line: help everywhere, one-line errors, no tracebacks."""

from __future__ import annotations

import argparse
import re
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


def readme_commands() -> set[str]:
    """Every `renkei ...` command path named in the README's command-line table."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    table = readme.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    found: set[str] = set()
    for row in re.findall(r"^\| (`renkei .*?) \| ", table, flags=re.MULTILINE):
        spans = re.findall(r"`([^`]+)`", row)
        words = spans[0].split()[1:]  # after "renkei"
        group = words[0]
        command = f"{group} {words[1]}" if len(words) > 1 else group
        found.add(command if command in NAMES else group)
        # "`renkei audit show ...` / `checkpoint`": siblings of the first command.
        for sibling in re.findall(r"/ `([a-z][a-z-]*)", row):
            found.add(f"{group} {sibling}")
    return found


NAMES = {" ".join(c) for c in ALL}


def test_the_readme_documents_exactly_the_commands_that_exist() -> None:
    documented = readme_commands()
    leaves = {name for name in NAMES if name and not any(
        other.startswith(name + " ") for other in NAMES)}
    assert documented == leaves, (sorted(documented - leaves), sorted(leaves - documented))


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


def test_rules_check_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        'renkei_rules: 1\nname: x\ntarget:\n  type: T\n  id: "urn:x:{ID}"\ncolumns:\n'
        '  ID: [ID]\nattributes:\n  a:\n    from: ID\n    pipe: [no_such_transform]\n'
        '  b:\n    from: ID\n    pipe: [{to_int: {bogus: 1}}]\n', encoding="utf-8")
    result = run_cli("rules", "check", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "bad.yaml:11: unknown transform 'no_such_transform'" in result.stderr
    assert "bad.yaml:14: transform 'to_int' has no argument 'bogus'" in result.stderr
    ok = run_cli("rules", "check", "bundled:nanao_evacuation_sites", cwd=tmp_path)
    assert ok.returncode == 0 and "ok" in ok.stdout


def test_map_to_jsonl_then_ingest_and_list_quarantine(tmp_path: Path) -> None:
    from mappings.loader import bundled_sample

    sample = bundled_sample("ngsiv2_shelters")
    mapped = run_cli("map", "bundled:ngsiv2_shelters", str(sample), "--out", "out.jsonl",
                     cwd=tmp_path)
    assert mapped.returncode == 0, mapped.stderr
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    entities = [__import__("json").loads(line) for line in lines]
    assert all(e["type"] == "EvacuationSite" for e in entities)
    # The synthetic file has two deliberately bad entities among its records.
    records = __import__("json").loads(sample.read_text(encoding="utf-8"))
    assert len(entities) == len(records) - 2

    (tmp_path / "authority.jwk.json").write_text("{}")
    (tmp_path / "renkei.toml").write_text(
        '[node]\nid = "jp-179999"\nrole = "city"\n[trust]\nauthority_jwk = "authority.jwk.json"\n'
        f'[[sources]]\nname = "shelters"\nrules = "bundled:ngsiv2_shelters"\npath = "{sample}"\n',
        encoding="utf-8")
    ingest = run_cli("map", "--config", "renkei.toml", cwd=tmp_path)
    assert ingest.returncode == 0, ingest.stderr
    assert f"read {len(records)} = mapped {len(entities)} + quarantined 2" in ingest.stdout
    listed = run_cli("quarantine", "list", "--config", "renkei.toml", cwd=tmp_path)
    rows = listed.stdout.strip().splitlines()
    assert len(rows) == 2
    assert any("latitude_out_of_range" in r for r in rows)
    retry = run_cli("map", "--config", "renkei.toml", "--retry-quarantine", cwd=tmp_path)
    assert "re-mapped 0 quarantined record(s); 2 still quarantined" in retry.stdout


def test_authority_registry_commands(tmp_path: Path) -> None:
    import json

    from trust.keys import NodeKey

    assert run_cli("authority", "init", "--dir", "auth", cwd=tmp_path).returncode == 0
    key = NodeKey.generate()
    (tmp_path / "city.jwk.json").write_text(json.dumps(key.public_jwk()))
    added = run_cli("authority", "add-member", "--dir", "auth", "--id", "jp-172022",
                    "--name-ja", "七尾市", "--name-en", "Nanao", "--role", "city",
                    "--endpoint", "city.example.jp:7443", "--jwk", "city.jwk.json", cwd=tmp_path)
    assert added.returncode == 0 and "added jp-172022 (city) with 1 key(s)" in added.stdout
    shown = run_cli("authority", "show", "--dir", "auth", cwd=tmp_path).stdout
    assert "jp-172022" in shown and "active" in shown and key.kid in shown
    revoked = run_cli("authority", "revoke", "jp-172022", "--dir", "auth", cwd=tmp_path)
    assert revoked.returncode == 0
    assert "REVOKED" in run_cli("authority", "show", "--dir", "auth", cwd=tmp_path).stdout
    published = run_cli("authority", "publish", "--dir", "auth", cwd=tmp_path)
    assert "version 1 (1 members)" in published.stdout
    missing = run_cli("authority", "revoke", "jp-999999", "--dir", "auth", cwd=tmp_path)
    assert missing.returncode == 1 and "unknown_member" in missing.stderr


def test_map_auto_with_a_param_summarizes_every_code(tmp_path: Path) -> None:
    # An older-layout evacuation file with a blank municipality code: `auto` picks the rule,
    # --param gives the member, and the summary counts each quarantine code and what was dropped.
    (tmp_path / "sites.csv").write_text(
        "NO,名称,住所,緯度,経度,市区町村コード,災害種別_洪水,電話番号\n"
        "1,七尾小学校,七尾市,37.04,136.96,,○,－\n"
        "2,御祓中学校,七尾市,37.05,136.97,,○,0767-52-0000\n"
        "3,旧校舎,七尾市,99.0,136.97,,○,\n", encoding="utf-8")
    done = run_cli("map", "auto", "sites.csv", "--param", "member=jp-172022", "--out",
                   "out.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ids = [__import__("json").loads(line)["id"]
           for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert ids == ["urn:ngsi-ld:EvacuationSite:jp-172022:1",
                   "urn:ngsi-ld:EvacuationSite:jp-172022:2"]
    assert "da_evacuation_sites" in done.stderr
    assert "quarantined: latitude_out_of_range" in done.stderr
    assert "dropped: telephone_placeholder" in done.stderr
    wrong = run_cli("map", "bundled:da_aed", "sites.csv", "--dry-run", cwd=tmp_path)
    assert wrong.returncode != 0
    assert "wrong_dataset" in wrong.stderr or "not a AED" in wrong.stderr
    assert "da_evacuation_sites" in wrong.stderr
    typo = run_cli("map", "bundled:da_aeds", "sites.csv", cwd=tmp_path)
    assert typo.returncode != 0 and "did you mean 'da_aed'" in typo.stderr
    assert "Traceback" not in typo.stderr
