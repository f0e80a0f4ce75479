"""Peers witness a city's audit log; the city's own operator (database and node key in hand)
cannot rewrite, truncate, roll back or fork it unnoticed.

A city and two agencies on loopback, real gRPC. The agencies cosign the city's checkpoints
(Witness.AddCheckpoint); the operator then tampers with the city's SQLite file and re-signs
checkpoints with the node key, and ``renkei audit verify --witnesses`` (a subprocess, as the
operator runs it) asks the agencies what they cosigned. ``renkei audit compare`` catches a city
that showed the two agencies different roots for one size.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from broker.demo.harness import LocalFederation, NodeSpec
from broker.errors import PeerRejected
from broker.service.entity_write import entity_write
from broker.service.model import FederatedQuery
from trust.audit import AuditEntry, AuditRecord, chain_entry
from trust.audit_chain import entry_leaf
from trust.checkpoint import TreeHead, audit_origin, sign_checkpoint
from trust.merkle import MerkleTree
from trust.witness import format_add_checkpoint

CITY, A1, A2 = "jp-172022", "jp-gov-bousai", "jp-gov-cao"
EVERY = 4


@dataclass
class Scene:
    fed: LocalFederation
    root: Path

    @property
    def city_config(self) -> Path:
        return self.fed.config_files[CITY]

    @property
    def city_db(self) -> Path:
        return self.city_config.parent / "renkei.db"

    async def queries(self, n: int, by: str = A1) -> None:
        for _ in range(n):
            await self.fed.nodes[by].fanout.query(
                FederatedQuery(types=("EvacuationSite",), purpose="disaster_response"),
                deadline=10)


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    async for built in build_scene(tmp_path):
        yield built


@pytest.fixture
async def pg_scene(tmp_path: Path, pg_dsn: str, pg_schema: str) -> AsyncIterator[Scene]:
    """The same, with witness A1 on PostgreSQL."""
    store = f'\n[store]\nbackend = "postgresql"\ndsn = "{pg_dsn}"\nschema = "{pg_schema}"\n'
    async for built in build_scene(tmp_path, store):
        yield built


async def build_scene(tmp_path: Path, a1_toml: str = "") -> AsyncIterator[Scene]:
    fed = LocalFederation(tmp_path)
    try:
        await fed.start_authority()
        city = await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao", http=False))
        await fed.add_node(NodeSpec(A1, "agency", "内閣府防災", "Bousai", http=False,
                                    extra_toml=a1_toml))
        await fed.add_node(NodeSpec(A2, "agency", "内閣府", "Cabinet Office", http=False))
        await fed.publish()
        await city.store.upsert_entities([entity_write({
            "id": f"urn:ngsi-ld:EvacuationSite:{CITY}:{i}", "type": "EvacuationSite",
            "capacity": {"type": "Property", "value": i}}) for i in range(3)], now=1.0)
        for consumer, agreement in ((A1, "agr-1"), (A2, "agr-2")):
            await fed.agree(provider=CITY, consumer=consumer, agreement_id=agreement,
                            purpose="disaster_response", types={"EvacuationSite": ["capacity"]})
        city.audit.checkpoint_every = EVERY
        yield Scene(fed, tmp_path)
    finally:
        await fed.stop()


async def renkei(*args: str) -> tuple[int, str]:
    # A subprocess on the event loop: the agencies in this process keep answering meanwhile.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli.main", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def witnessed(scene: Scene, entries: int = 12) -> None:
    """The city's log grows to ``entries`` entries, each checkpoint cosigned by both."""
    city = scene.fed.nodes[CITY]
    while (await city.audit.head())[0] < entries:
        await scene.queries(1)
        await city.witnessing.send_all()
    assert (await city.audit.head())[0] == entries, "one query is one city entry"
    await city.audit.checkpoint()
    outcome = await city.witnessing.send_all()
    assert set(outcome.values()) <= {f"cosigned size {entries}", "cosigned already"}, outcome
    for witness in (A1, A2):
        held = await scene.fed.nodes[witness].store.witness_head(audit_origin(CITY))
        assert held is not None and held[0] == entries


def city_entries(db: Path) -> list[AuditEntry]:
    with sqlite3.connect(db) as conn:
        return [AuditEntry.from_document(orjson.loads(b)) for (b,) in
                conn.execute("SELECT body FROM audit ORDER BY seq")]


def resign_everything(db: Path, scene: Scene, first: int) -> None:
    """The operator's best forgery: rewrite entries ``first``.. consistently, rebuild the
    tree and re-sign every local checkpoint with the node key, drop the cosigned copies."""
    key = scene.fed.nodes[CITY].identity.key if CITY in scene.fed.nodes else None
    assert key is not None
    entries = city_entries(db)
    prev = entries[first - 2].entry_hash if first > 1 else "0" * 64
    rewritten = entries[:first - 1]
    for e in entries[first - 1:]:
        r = e.record
        if e.seq == first:
            r = AuditRecord(r.time, r.caller, r.agreement_id, r.operation, r.request_digest,
                            "deny", "no_agreement", 0, r.details)
        new = chain_entry(r, e.seq, prev)
        rewritten.append(new)
        prev = new.entry_hash
    tree = MerkleTree(entry_leaf(e.entry_hash) for e in rewritten)
    with sqlite3.connect(db) as conn:
        conn.executemany("UPDATE audit SET prev_hash = ?, entry_hash = ?, body = ? WHERE seq = ?",
                         [(e.prev_hash, e.entry_hash, orjson.dumps(e.to_document()), e.seq)
                          for e in rewritten])
        conn.execute("DELETE FROM audit_tree")
        conn.execute("DELETE FROM audit_cosigned")
        sizes = [s for (s,) in conn.execute("SELECT size FROM audit_heads")]
        conn.execute("DELETE FROM audit_heads")
        for size in sizes:
            cp = sign_checkpoint(TreeHead(audit_origin(CITY), size, tree.root(size)), key)
            conn.execute("INSERT INTO audit_heads (size, note, created_at) VALUES (?, ?, 0)",
                         (size, cp.format()))


async def test_witnesses_cosign_and_verify_passes(scene: Scene) -> None:
    await witnessed(scene)
    a1 = scene.fed.nodes[A1]
    held = await a1.store.witness_head(audit_origin(CITY))
    assert held is not None and held[0] == 12
    await scene.fed.stop_node(CITY)
    code, out = await renkei("audit", "verify", "--config", str(scene.city_config),
                             "--witnesses")
    assert code == 0, out
    assert "audit log OK: 12 entries" in out
    assert "from 2 witness(es)" in out and "0 entries at the tail covered by no witness" in out


async def test_a_rewrite_resigned_with_the_node_key_is_caught_by_the_witnesses(
        scene: Scene) -> None:
    await witnessed(scene)
    resign_everything(scene.city_db, scene, 6)
    await scene.fed.stop_node(CITY)
    code, out = await renkei("audit", "verify", "--config", str(scene.city_config))
    assert code == 0, "without the witnesses the forgery holds: " + out
    code, out = await renkei("audit", "verify", "--config", str(scene.city_config),
                             "--witnesses")
    assert code == 1, out
    assert "BROKEN at entry 5: rewritten" in out and "one of entries 5..8" in out


async def test_a_truncated_tail_and_its_deleted_checkpoints_are_caught(scene: Scene) -> None:
    await witnessed(scene)
    await scene.fed.stop_node(CITY)
    with sqlite3.connect(scene.city_db) as conn:
        conn.execute("DELETE FROM audit WHERE seq > 9")
        conn.execute("DELETE FROM audit_heads WHERE size > 9")
        conn.execute("DELETE FROM audit_cosigned WHERE size > 9")
    code, out = await renkei("audit", "verify", "--config", str(scene.city_config))
    assert code == 0, "locally nothing shows: " + out
    code, out = await renkei("audit", "verify", "--config", str(scene.city_config),
                             "--witnesses")
    assert code == 1 and "BROKEN at entry 10: truncated" in out, out
    assert "checkpoint_deleted" in out


async def test_a_deleted_checkpoint_is_caught(scene: Scene) -> None:
    await witnessed(scene)
    await scene.fed.stop_node(CITY)
    with sqlite3.connect(scene.city_db) as conn:
        conn.execute("DELETE FROM audit_heads WHERE size = 8")
        conn.execute("DELETE FROM audit_cosigned")
    code, out = await renkei("audit", "verify", "--config", str(scene.city_config),
                             "--witnesses")
    assert code == 1 and "checkpoint_deleted" in out and "size 8" in out, out


async def test_a_reorder_is_caught(scene: Scene) -> None:
    await witnessed(scene)
    await scene.fed.stop_node(CITY)
    with sqlite3.connect(scene.city_db) as conn:
        conn.execute("UPDATE audit SET seq = -1 WHERE seq = 3")
        conn.execute("UPDATE audit SET seq = 3 WHERE seq = 4")
        conn.execute("UPDATE audit SET seq = 4 WHERE seq = -1")
    code, out = await renkei("audit", "verify", "--config", str(scene.city_config),
                             "--witnesses")
    assert code == 1 and "BROKEN at entry 4: reordered: entry 4 appears before entry 3" in out, out


async def test_a_rolled_back_database_is_refused_by_the_witnesses_and_caught(
        scene: Scene) -> None:
    await witnessed(scene, 8)
    city = scene.fed.nodes[CITY]
    await scene.fed.stop_node(CITY)
    backup = scene.root / "backup.db"
    shutil.copy(scene.city_db, backup)
    await scene.fed.start_node(CITY)
    scene.fed.nodes[CITY].audit.checkpoint_every = EVERY
    await witnessed(scene, 12)
    await scene.fed.stop_node(CITY)
    shutil.copy(backup, scene.city_db)  # the operator restores last week's database
    for suffix in ("-wal", "-shm"):
        Path(str(scene.city_db) + suffix).unlink(missing_ok=True)
    city = await scene.fed.start_node(CITY)
    city.audit.checkpoint_every = EVERY
    await scene.queries(4)  # a new history from entry 9
    checkpoint = await city.audit.checkpoint()
    assert checkpoint is not None and checkpoint.head.size == 12
    outcome = await city.witnessing.send_all()
    assert all(v.startswith("refused") or "conflict" in v for v in outcome.values()), outcome
    await scene.fed.stop_node(CITY)
    code, out = await renkei("audit", "verify", "--config", str(scene.city_config),
                             "--witnesses")
    assert code == 1 and "BROKEN at entry 9: rewritten" in out, out


async def test_a_witness_refuses_a_fork_also_after_its_restart(scene: Scene) -> None:
    await fork_after_restart(scene)


async def test_a_witness_on_postgresql_refuses_a_fork_also_after_its_restart(
        pg_scene: Scene) -> None:
    await fork_after_restart(pg_scene)


async def fork_after_restart(scene: Scene) -> None:
    await witnessed(scene, 8)
    await scene.fed.restart(A1)
    city = scene.fed.nodes[CITY]
    fork = sign_checkpoint(TreeHead(audit_origin(CITY), 8, b"\x07" * 32), city.identity.key)
    channel = city.peers()[A1]
    with pytest.raises(PeerRejected) as refused:
        await channel.add_checkpoint(format_add_checkpoint(8, [], fork), 10)
    assert refused.value.reason == "root_conflict"
    smaller = sign_checkpoint(TreeHead(audit_origin(CITY), 5, b"\x07" * 32), city.identity.key)
    _, _, known = await channel.add_checkpoint(format_add_checkpoint(0, [], smaller), 10)
    assert known == 8  # size_conflict: the witness still holds size 8


async def test_compare_catches_a_split_view(scene: Scene) -> None:
    city = scene.fed.nodes[CITY]
    city.audit.checkpoint_every = 1000
    await scene.queries(4)
    # The city shows A2 a tree of size 4 with another root (signed with its own key) ...
    other = sign_checkpoint(TreeHead(audit_origin(CITY), 4, b"\x09" * 32), city.identity.key)
    peers = city.peers()
    lines, _, known = await peers[A2].add_checkpoint(format_add_checkpoint(0, [], other), 10)
    assert known is None and lines
    # ... and A1 the real one.
    checkpoint = await city.audit.checkpoint()
    assert checkpoint is not None and checkpoint.head.size == 4
    assert checkpoint.head.root != other.head.root
    assert await city.witnessing.submit(A1, peers[A1], checkpoint) in (
        "cosigned size 4", "cosigned already")
    code, out = await renkei("audit", "compare", CITY, "--config",
                             str(scene.fed.config_files[A1]), "--witnesses", f"{A1},{A2}")
    assert code == 1 and "SPLIT VIEW" in out and "two different roots for size 4" in out, out
    code, out = await renkei("audit", "compare", CITY, "--config",
                             str(scene.fed.config_files[A1]), "--witnesses", A1)
    assert code == 0, out
