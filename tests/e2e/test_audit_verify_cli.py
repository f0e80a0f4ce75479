"""``renkei audit verify`` on a real node's store: passes, then names a tampered entry."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson

from broker.demo.harness import LocalFederation, NodeSpec
from broker.service.entity_write import entity_write
from broker.service.model import FederatedQuery

CITY, AGENCY = "jp-172022", "jp-gov-bousai"


async def make_history(root: Path) -> Path:
    fed = LocalFederation(root)
    try:
        await fed.start_authority()
        city = await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao", http=False))
        await fed.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet Office", http=False))
        await fed.publish()
        await city.store.upsert_entities([entity_write({
            "id": f"urn:ngsi-ld:EvacuationSite:{CITY}:{i}", "type": "EvacuationSite",
            "capacity": {"type": "Property", "value": i}}) for i in range(5)], now=1.0)
        await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-1",
                        purpose="disaster_response", types={"EvacuationSite": ["capacity"]})
        for _ in range(3):
            await fed.nodes[AGENCY].fanout.query(
                FederatedQuery(types=("EvacuationSite",), purpose="disaster_response"),
                deadline=10)
        return fed.config_files[CITY]
    finally:
        await fed.stop()  # stopping signs a checkpoint of each chain head


def verify(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "broker.cli.main", "audit", "verify",
                           "--config", str(config)], capture_output=True, text=True, timeout=60)


async def test_audit_verify_passes_then_names_the_edited_entry(tmp_path: Path) -> None:
    config = await make_history(tmp_path)
    ok = verify(config)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "audit log OK: 3 entries" in ok.stdout
    assert "1 signed checkpoint(s) verified" in ok.stdout

    db = config.parent / "renkei.db"
    with sqlite3.connect(db) as conn:
        body = conn.execute("SELECT body FROM audit WHERE seq = 2").fetchone()[0]
        entry = orjson.loads(body)
        entry["result_count"] = 0  # someone hides what was delivered
        conn.execute("UPDATE audit SET body = ? WHERE seq = 2", (orjson.dumps(entry),))
    broken = verify(config)
    assert broken.returncode == 1
    assert "BROKEN at entry 2: edited" in broken.stdout


async def test_audit_verify_detects_a_deleted_entry(tmp_path: Path) -> None:
    config = await make_history(tmp_path)
    with sqlite3.connect(config.parent / "renkei.db") as conn:
        conn.execute("DELETE FROM audit WHERE seq = 2")
    broken = verify(config)
    assert broken.returncode == 1
    assert "deleted" in broken.stdout
