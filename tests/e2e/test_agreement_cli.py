"""The agreement lifecycle as operators run it: ``renkei agreement`` on each node's data
directory while the nodes run, the proposal and the countersignature travelling over gRPC."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from broker.demo.harness import LocalFederation, NodeSpec
from broker.service.entity_write import entity_write
from broker.service.model import FederatedQuery

CITY, AGENCY = "jp-172022", "jp-gov-bousai"


async def renkei(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli.main", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_propose_sign_show_list_and_revoke_through_the_cli(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path)
    try:
        await fed.start_authority()
        city = await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao", http=False))
        await fed.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet", http=False))
        await fed.publish()
        await city.store.upsert_entities([entity_write({
            "id": f"urn:ngsi-ld:EvacuationSite:{CITY}:1", "type": "EvacuationSite",
            "capacity": {"type": "Property", "value": 10},
            "telephone": {"type": "Property", "value": "0767"}})], 1.0)
        agency_cfg, city_cfg = str(fed.config_files[AGENCY]), str(fed.config_files[CITY])

        code, out = await renkei("agreement", "propose", "--config", agency_cfg,
                                 "--provider", CITY, "--purpose", "disaster_response",
                                 "--type", "EvacuationSite:capacity", "--id", "agr-cli")
        assert code == 0 and "proposed agr-cli" in out, out
        code, out = await renkei("agreement", "list", "--config", city_cfg)
        assert "agr-cli [proposed]" in out, out  # the proposal reached the running city
        code, out = await renkei("agreement", "sign", "agr-cli", "--config", city_cfg)
        assert code == 0 and "active" in out, out
        code, out = await renkei("agreement", "show", "agr-cli", "--config", agency_cfg)
        shown = json.loads(out)
        assert shown["state"] == "active"
        assert sorted(shown["signed_by"]) == sorted([CITY, AGENCY])

        # The running nodes serve under it: they reload what the CLI wrote (every few
        # seconds on their own; at once here).
        await fed.nodes[CITY].agreements.load()
        await fed.nodes[AGENCY].agreements.load()
        query = FederatedQuery(types=("EvacuationSite",), purpose="disaster_response")
        outcome = await fed.nodes[AGENCY].fanout.query(query, deadline=10)
        assert [s.status for s in outcome.statuses] == ["ok"]
        assert outcome.entities[0]["capacity"]["value"] == 10
        assert "telephone" not in outcome.entities[0]

        code, out = await renkei("agreement", "revoke", "agr-cli", "--reason", "test",
                                 "--config", city_cfg)
        assert code == 0 and "revoked agr-cli" in out, out
        await fed.nodes[CITY].agreements.load()
        code, out = await renkei("agreement", "list", "--config", agency_cfg)
        assert "agr-cli [revoked]" in out, out  # the revocation travelled to the agency
        refused = await fed.nodes[AGENCY].fanout.query(query, deadline=10)
        assert [s.status for s in refused.statuses] == ["denied"]
    finally:
        await fed.stop()
