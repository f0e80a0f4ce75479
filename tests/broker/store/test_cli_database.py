"""``renkei db migrate``: applies once, then reports up to date; errors are one line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from broker.cli import database
from broker.cli.main import describe
from broker.errors import BrokerError
from broker.store.migrations import migrations_for


def parser() -> argparse.ArgumentParser:
    # The lead's main parser imports every command group; build just ours.
    top = argparse.ArgumentParser(prog="renkei")
    database.register(top.add_subparsers(dest="command", required=True))
    return top


def config(tmp_path: Path, store: str) -> Path:
    path = tmp_path / "renkei.toml"
    path.write_text(f'[node]\nid = "jp-172022"\nrole = "city"\ndata_dir = "."\n\n'
                    f'[trust]\nauthority_jwk = "authority.jwk.json"\n\n{store}',
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migrate_applies_then_reports_up_to_date(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest,
        capsys: pytest.CaptureFixture[str]) -> None:
    store = ""
    if backend == "postgres":
        dsn, schema = request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_schema")
        store = f'[store]\nbackend = "postgresql"\ndsn = "{dsn}"\nschema = "{schema}"\n'
    args = parser().parse_args(["db", "migrate", "--config", str(config(tmp_path, store))])
    migrations = migrations_for(backend)
    assert args.handler(args) == 0
    applied = capsys.readouterr().out
    assert f"applied {', '.join(m.name for m in migrations)}" in applied
    assert args.handler(args) == 0
    assert f"up to date (migration {migrations[-1].number:04d})" in capsys.readouterr().out


def test_unreachable_postgresql_is_a_one_line_store_error(tmp_path: Path) -> None:
    store = ('[store]\nbackend = "postgresql"\n'
             'dsn = "postgresql://renkei:secret@127.0.0.1:1/none"\n')
    args = parser().parse_args(["db", "migrate", "-c", str(config(tmp_path, store))])
    with pytest.raises(BrokerError) as caught:
        args.handler(args)
    line = describe(caught.value)
    assert "\n" not in line and line.endswith("[store_error]")
    assert "127.0.0.1:1" in line and "secret" not in line


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["db", "--help"], ["db", "migrate", "--help"]):
        with pytest.raises(SystemExit) as done:
            parser().parse_args(argv)
        assert done.value.code == 0
    assert "--config" in capsys.readouterr().out
