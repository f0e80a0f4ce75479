"""``renkei catalog MEMBER`` (issue 14, agreement lifecycle): what a peer offers this node,
seen before any agreement, for an operator writing a proposal.

Nanao publishes its evacuation sites (a bundled rule as its [[sources]]) and runs in this
process with the agency and Takamatsu; the CLI runs as its own process on each consumer's
config, as an operator would. Takamatsu has no agreement with Nanao: it sees what Nanao
offers (types, attributes, licence) and nothing that depends on Nanao's data.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "broker" / "federation"))

from fedtools import AGENCY, NANAO, SITE_ATTRS, TAKAMATSU, spec  # noqa: E402

from broker.demo.harness import LocalFederation  # noqa: E402
from broker.ingest import Ingestor  # noqa: E402
from mappings.loader import bundled_rules, bundled_sample, load_rules  # noqa: E402

PURPOSE = "disaster_response"
RULE = "bundled:nanao_evacuation_sites"


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    f = LocalFederation(tmp_path)
    try:
        await f.start_authority()
        nanao = spec(NANAO)
        nanao.sources = [{"name": "sites", "rules": RULE,
                          "path": str(bundled_sample("nanao_evacuation_sites"))}]
        city = await f.add_node(nanao)
        await f.add_node(spec(AGENCY))
        await f.add_node(spec(TAKAMATSU))
        await f.publish()
        await Ingestor(city.store, city.clock).ingest(
            "sites", RULE, Path(nanao.sources[0]["path"]))
        await f.agree(provider=NANAO, consumer=AGENCY, agreement_id="agr-nanao",
                      purpose=PURPOSE, types={"EvacuationSite": SITE_ATTRS})
        yield f
    finally:
        await f.stop()


async def renkei(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli.main", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode or 0, out.decode()


async def test_catalog_shows_what_a_peer_offers_before_and_under_an_agreement(
        fed: LocalFederation) -> None:
    produced = sorted(a.name for a in load_rules(bundled_rules("nanao_evacuation_sites"))
                      .attributes)
    # Takamatsu: no agreement with Nanao. Before this, the catalog was empty for it.
    code, out = await renkei("catalog", NANAO, "--json", "--config",
                             str(fed.config_files[TAKAMATSU]))
    assert code == 0, out
    seen = orjson.loads(out)
    assert seen["provider"] == NANAO and seen["datasets"] == []
    assert seen["offers"] == [{"entityType": "EvacuationSite", "attributes": produced,
                               "license": "CC-BY-4.0", "publisher": "Nanao"}]
    assert "capacity" in produced and "entityCount" not in str(seen["offers"])

    # The agency, under agr-nanao: the offers, and its dataset with the count it may see.
    code, out = await renkei("catalog", NANAO, "--config", str(fed.config_files[AGENCY]))
    assert code == 0, out
    assert f"{NANAO} offers" in out and "EvacuationSite: " + ",".join(produced) in out
    dataset = [line for line in out.splitlines() if line.strip().startswith("agr-nanao")]
    assert len(dataset) == 1 and "112 entities" in dataset[0], out
    assert "attributes " + ",".join(sorted([*SITE_ATTRS, "id", "type"])) in dataset[0]

    # A member id not in the directory is refused, with a stable code.
    code, out = await renkei("catalog", "jp-999999", "--config",
                             str(fed.config_files[AGENCY]))
    assert code == 1 and "not another (unrevoked) member" in out and "[not_found]" in out
