"""The agreement lifecycle as operators run it, without its traps (issue 14): what the CLI
writes beside a running node is served at once."""

from __future__ import annotations

import asyncio
import re
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


async def _until(probe, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await probe():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_a_proposal_to_a_provider_that_is_down_is_stored_resent_and_idempotent(
        tmp_path: Path) -> None:
    fed = await federation(tmp_path)
    try:
        agency_cfg = str(fed.config_files[AGENCY])
        propose = ("agreement", "propose", "--config", agency_cfg, "--provider", CITY,
                   "--purpose", PURPOSE, "--type", "EvacuationSite:capacity", "--id", "agr-d")
        await fed.stop_node(CITY)
        code, out = await renkei(*propose)
        assert code == 1, out
        assert "stored here" in out and "renkei agreement send agr-d" in out, out
        assert out.rstrip().endswith("[delivery_pending]"), out
        await asyncio.sleep(1.1)  # the validity window of a re-run moves
        code, out = await renkei(*propose)
        assert "different terms" not in out and "[delivery_pending]" in out, out
        code, out = await renkei("agreement", "list", "--config", agency_cfg)
        assert "agr-d [proposed]" in out, out
        assert re.search(r"proposal to jp-172022 pending \(\d+ attempt", out), out

        # Different terms under the same id are still refused.
        code, out = await renkei(*propose[:-3], "EvacuationSite:capacity,name", "--id", "agr-d")
        assert code == 1 and "exists with different terms" in out, out

        city = await fed.start_node(CITY)

        async def arrived() -> bool:
            await city.agreements.load()
            return "agr-d" in {v.id for v in city.agreements.views()}

        await _until(arrived)  # the running agency resent it, nobody ran a command
        agency = fed.nodes[AGENCY]
        await _until(lambda: _no_delivery(agency, "agr-d"))
        (view,) = [v for v in city.agreements.views() if v.id == "agr-d"]
        assert view.state == "proposed"
    finally:
        await fed.stop()
        if fed.authority is not None:
            await fed.authority.stop()


async def _no_delivery(node, agreement_id: str) -> bool:  # type: ignore[no-untyped-def]
    return await node.exchange.delivery(agreement_id) is None


async def test_revocations_are_delivered_like_proposals(tmp_path: Path) -> None:
    fed = await federation(tmp_path)
    try:
        agency_cfg, city_cfg = str(fed.config_files[AGENCY]), str(fed.config_files[CITY])
        # A proposal the city never heard of: revoking it is not an error at the city.
        code, out = await renkei("agreement", "propose", "--config", agency_cfg, "--provider",
                                 CITY, "--purpose", PURPOSE, "--type",
                                 "EvacuationSite:capacity", "--id", "agr-quiet", "--no-send")
        assert code == 0, out
        code, out = await renkei("agreement", "revoke", "agr-quiet", "--config", agency_cfg)
        assert code == 0 and "revoked agr-quiet" in out and "not_found" not in out, out

        # An active agreement revoked while the other party is down: revoked here at once,
        # delivered when the party is back.
        await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-r", purpose=PURPOSE,
                        types={"EvacuationSite": ["capacity"]})
        await fed.stop_node(AGENCY)
        code, out = await renkei("agreement", "revoke", "agr-r", "--reason", "drill",
                                 "--config", city_cfg)
        assert code == 1 and "revocation of agr-r is stored here (revoked)" in out, out
        code, out = await renkei("agreement", "list", "--config", city_cfg)
        assert "agr-r [revoked]" in out and "revocation to jp-gov-bousai pending" in out, out
        agency = await fed.start_node(AGENCY)

        async def revoked_there() -> bool:
            await agency.agreements.load()
            return [v.state for v in agency.agreements.views() if v.id == "agr-r"] == \
                ["revoked"]

        await _until(revoked_there)
    finally:
        await fed.stop()
        if fed.authority is not None:
            await fed.authority.stop()


async def test_typos_and_non_members_are_refused_before_anything_is_active(
        tmp_path: Path) -> None:
    fed = await federation(tmp_path)
    try:
        agency_cfg, city_cfg = str(fed.config_files[AGENCY]), str(fed.config_files[CITY])
        code, out = await renkei("agreement", "propose", "--config", agency_cfg, "--provider",
                                 "jp-999999", "--purpose", PURPOSE, "--type",
                                 "EvacuationSite:capacity", "--no-send")
        assert code == 1 and "jp-999999 is not a member" in out and CITY in out, out
        assert out.rstrip().endswith("[not_a_member]"), out

        code, out = await renkei("agreement", "propose", "--config", agency_cfg, "--provider",
                                 CITY, "--purpose", PURPOSE, "--type", "EvacuationSit:capacty",
                                 "--id", "agr-typo")
        assert code == 0, out  # the consumer cannot see the city's data model: the city can
        code, out = await renkei("agreement", "sign", "agr-typo", "--config", city_cfg)
        assert code == 1 and "did you mean EvacuationSite?" in out, out
        assert out.rstrip().endswith("[unknown_offer]"), out
        code, out = await renkei("agreement", "list", "--config", city_cfg)
        assert "agr-typo [proposed]" in out, out  # not active

        code, out = await renkei("agreement", "propose", "--config", agency_cfg, "--provider",
                                 CITY, "--purpose", PURPOSE, "--type", "EvacuationSite:capacty",
                                 "--id", "agr-attr")
        code, out = await renkei("agreement", "sign", "agr-attr", "--config", city_cfg)
        assert code == 1 and "'capacty'" in out and "did you mean capacity?" in out, out
    finally:
        await fed.stop()
        if fed.authority is not None:
            await fed.authority.stop()
