"""A damaged member directory in a node's own store (issue 18, part 5).

Nanao city provides to the disaster agency under an agreement, all on loopback with a real
authority. With the city stopped, its SQLite file is damaged as a failing disk or a careless
operator could (a flipped character in the signed directory, a truncated row, a row whose
version column was changed too). The city must start all the same: it fetches a fresh copy
from the authority and says so in its log; with the authority down too it starts without a
directory (peers are refused, never served unchecked) and takes one as soon as the authority
answers; ``renkei node repair-directory`` replaces the damaged rows for an operator.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.authority_server import AuthorityService
from broker.config import load_config
from broker.demo.harness import LocalFederation
from broker.service.entity_write import entity_write
from broker.service.model import FederatedQuery
from trust.directory import DirectoryHolder

from .conftest import AGENCY, CITY, PURPOSE, city_and_agency

REPO = Path(__file__).resolve().parents[2]
QUERY = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE)


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    async with city_and_agency(tmp_path, "agr-1", {"EvacuationSite": ["capacity"]}) as f:
        await f.nodes[CITY].store.upsert_entities([entity_write({
            "id": f"urn:ngsi-ld:EvacuationSite:{CITY}:1", "type": "EvacuationSite",
            "capacity": {"type": "Property", "value": 10}})], 1.0)
        yield f


def city_db(fed: LocalFederation) -> Path:
    return load_config(fed.config_files[CITY]).sqlite_path


def rows(db: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(db)
    try:
        return [(int(v), str(j)) for v, j in
                conn.execute("SELECT version, jws FROM directory ORDER BY version")]
    finally:
        conn.close()


def damage(db: Path, how: str) -> None:
    """Damage the newest directory row of a stopped node's SQLite file."""
    conn = sqlite3.connect(db)
    try:
        version, jws = conn.execute(
            "SELECT version, jws FROM directory ORDER BY version DESC LIMIT 1").fetchone()
        if how == "flipped":  # one character of the signed payload changed
            header, payload, signature = jws.split(".")
            i = len(payload) // 2
            payload = payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1:]
            jws = ".".join((header, payload, signature))
        else:  # "truncated": the row cut in half
            jws = jws[:len(jws) // 2]
        conn.execute("UPDATE directory SET jws = ? WHERE version = ?", (jws, version))
        if how == "renumbered":  # and its version column raised above the authority's
            conn.execute("UPDATE directory SET version = 7 WHERE version = ?", (version,))
        conn.commit()
    finally:
        conn.close()


def verifies(fed: LocalFederation, jws: str) -> bool:
    assert fed.authority is not None
    try:
        DirectoryHolder(fed.authority.authority.public_jwk()).update(jws, fed.clock.now())
    except Exception:
        return False
    return True


async def statuses(fed: LocalFederation) -> list[str]:
    outcome = await fed.nodes[AGENCY].fanout.query(QUERY, deadline=10)
    return [s.status for s in outcome.statuses]


async def renkei(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli.main", *args, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


@pytest.mark.parametrize("how", ["flipped", "truncated"])
async def test_a_damaged_copy_is_replaced_from_the_authority_at_start(
        fed: LocalFederation, how: str, caplog: pytest.LogCaptureFixture) -> None:
    assert await statuses(fed) == ["ok"]
    await fed.stop_node(CITY)
    damage(city_db(fed), how)
    assert not verifies(fed, rows(city_db(fed))[-1][1])

    with caplog.at_level(logging.WARNING, logger="renkei.directory"):
        city = await fed.start_node(CITY)  # before: DirectoryError bad_signature, no node
    assert city.directory.holds and city.directory.version == 1
    logged = caplog.text
    assert "member directory kept in the store (version 1) is damaged" in logged
    assert "replaced by version 1 fetched from the authority" in logged
    assert [verifies(fed, jws) for _, jws in rows(city_db(fed))] == [True]  # kept repaired
    assert await statuses(fed) == ["ok"]  # the city verifies the agency's tokens again

    caplog.clear()
    await fed.restart(CITY)
    assert "damaged" not in caplog.text


async def test_with_the_authority_down_too_the_node_starts_refusing_peers_until_it_answers(
        fed: LocalFederation, caplog: pytest.LogCaptureFixture) -> None:
    assert fed.authority is not None
    authority, port = fed.authority, fed.authority.port
    await fed.stop_node(CITY)
    damage(city_db(fed), "flipped")
    await authority.stop()

    with caplog.at_level(logging.WARNING, logger="renkei.directory"):
        city = await fed.start_node(CITY)
    assert not city.directory.holds
    assert "no fresh member directory from the authority" in caplog.text
    assert "renkei node repair-directory" in caplog.text
    # Without a directory the city cannot check a caller: refused as unavailable (no_directory),
    # never served unchecked.
    assert await statuses(fed) == ["unavailable"]

    back = AuthorityService(authority.authority, fed.root / "authority", f"127.0.0.1:{port}")
    await back.start()
    fed.authority = back
    # The housekeeping loop asks every tick (10 s) while it holds no directory, not every
    # directory_poll_seconds (300 s).
    for _ in range(300):  # adopted, then kept in the store
        if city.directory.holds and [verifies(fed, jws) for _, jws in rows(city_db(fed))] \
                == [True]:
            break
        await asyncio.sleep(0.1)
    assert city.directory.holds and city.directory.version == 1
    assert [verifies(fed, jws) for _, jws in rows(city_db(fed))] == [True]
    assert await statuses(fed) == ["ok"]


async def test_repair_directory_drops_damaged_rows_whatever_version_they_claim(
        fed: LocalFederation, caplog: pytest.LogCaptureFixture) -> None:
    config = str(fed.config_files[CITY])
    await fed.stop_node(CITY)
    damage(city_db(fed), "renumbered")  # a damaged row that claims version 7
    # At start the node will not take the authority's version 1 below the floor of 7 on its
    # own: that is the operator's call.
    with caplog.at_level(logging.WARNING, logger="renkei.directory"):
        city = await fed.start_node(CITY)
    assert not city.directory.holds and "directory_rollback" in caplog.text
    await fed.stop_node(CITY)

    assert fed.authority is not None
    authority, port = fed.authority, fed.authority.port
    await authority.stop()
    code, out = await renkei("node", "repair-directory", "--config", config)
    assert code == 1 and "renkei: error:" in out and "authority" in out, out
    assert [v for v, _ in rows(city_db(fed))] == [7]  # nothing removed while it is away
    back = AuthorityService(authority.authority, fed.root / "authority", f"127.0.0.1:{port}")
    await back.start()
    fed.authority = back

    code, out = await renkei("node", "repair-directory", "--config", config)
    assert code == 0, out
    assert "dropped damaged member directory copies: version 7" in out
    assert "installed version 1 from the authority" in out
    assert [(v, verifies(fed, jws)) for v, jws in rows(city_db(fed))] == [(1, True)]
    city = await fed.start_node(CITY)
    assert city.directory.holds and city.directory.version == 1
    assert await statuses(fed) == ["ok"]

    code, out = await renkei("node", "repair-directory", "--config", config)
    assert code == 0 and "no damaged member directory copy in the store" in out, out
    assert "newest intact copy kept: version 1" in out
