"""The agreement lifecycle as operators run it, without its traps (issue 14): what the CLI
writes beside a running node is served at once."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from broker.demo.harness import LocalFederation, NodeSpec
from broker.service.entity_write import entity_write
from broker.service.model import FederatedQuery

CITY, AGENCY = "jp-172022", "jp-gov-bousai"
PURPOSE = "disaster_response"


async def renkei(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli.main", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def federation(tmp_path: Path) -> LocalFederation:
    fed = LocalFederation(tmp_path)
    await fed.start_authority()
    city = await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao", http=False))
    await fed.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet", http=False))
    await fed.publish()
    await city.store.upsert_entities([entity_write({
        "id": f"urn:ngsi-ld:EvacuationSite:{CITY}:1", "type": "EvacuationSite",
        "capacity": {"type": "Property", "value": 10}})], 1.0)
    return fed


async def test_a_countersignature_by_the_cli_is_served_by_the_running_node_at_once(
        tmp_path: Path) -> None:
    fed = await federation(tmp_path)
    try:
        code, out = await renkei("agreement", "propose", "--config",
                                 str(fed.config_files[AGENCY]), "--provider", CITY,
                                 "--purpose", PURPOSE, "--type", "EvacuationSite:capacity",
                                 "--id", "agr-now")
        assert code == 0, out
        code, out = await renkei("agreement", "sign", "agr-now", "--config",
                                 str(fed.config_files[CITY]))
        assert code == 0 and "active" in out, out
        signed_at = time.monotonic()
        # Nobody tells the running nodes to reload: they see the store change on their own
        # (the housekeeping tick alone took up to 10 s).
        query = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE)
        statuses: list[str] = []
        while time.monotonic() - signed_at < 1.5:
            outcome = await fed.nodes[AGENCY].fanout.query(query, deadline=5)
            statuses = [s.status for s in outcome.statuses]
            if statuses == ["ok"]:
                break
            await asyncio.sleep(0.1)
        assert statuses == ["ok"], statuses
    finally:
        await fed.stop()
        if fed.authority is not None:
            await fed.authority.stop()
