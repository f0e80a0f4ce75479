"""``renkei peers list`` and ``renkei peers retry`` (issue 14, recovery): an operator sees which
peers this node is backing off from and why, and can clear a backoff without a restart.

The city is a child process that is really killed; the agency runs in this process with a
30 s minimum backoff, and the CLI runs as its own process on the agency's config and store,
as an operator would run it beside the running node.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "broker" / "federation"))

from fedtools import AGENCY, NANAO, SITE_ATTRS, seed_child, site, spec, until  # noqa: E402

from broker.demo.harness import LocalFederation  # noqa: E402
from broker.service.model import FederatedQuery  # noqa: E402

PURPOSE = "disaster_response"
QUERY = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE, limit=100)


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    f = LocalFederation(tmp_path)
    try:
        await f.start_authority()
        await f.add_node(spec(AGENCY))
        await f.add_child(spec(NANAO))
        await f.publish()
        await seed_child(f, NANAO, [site(NANAO, n) for n in range(3)])
        await f.agree(provider=NANAO, consumer=AGENCY, agreement_id="agr-nanao",
                      purpose=PURPOSE, types={"EvacuationSite": SITE_ATTRS})
        config = f.config_files[AGENCY]
        text = config.read_text().replace("backoff_min_seconds = 0.05",
                                          "backoff_min_seconds = 30")
        config.write_text(text.replace("backoff_max_seconds = 0.5",
                                       "backoff_max_seconds = 300\nprobe_seconds = 0.2"))
        await f.restart(AGENCY)
        yield f
    finally:
        await f.stop()


async def renkei(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli.main", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode or 0, out.decode()


def line_of(out: str, member: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith(member + " ")]
    assert len(lines) == 1, out
    return lines[0]


async def test_peers_shows_the_backoff_and_retry_clears_it_in_the_running_node(
        fed: LocalFederation) -> None:
    agency = fed.nodes[AGENCY]
    config = str(fed.config_files[AGENCY])

    async def cleared() -> bool:
        return await agency.backoff.retry_in(NANAO) == 0

    code, out = await renkei("peers", "list", "--config", config)
    assert code == 0, out
    assert line_of(out, NANAO).endswith(": ok; answers its health check now")

    await fed.children[NANAO].kill()
    (status,) = (await agency.fanout.query(QUERY, 3.0, peers=[NANAO])).statuses
    assert status.status == "unavailable"
    assert await agency.backoff.retry_in(NANAO) > 25

    code, out = await renkei("peers", "list", "--config", config)
    assert code == 0, out
    city = line_of(out, NANAO)
    assert "backing_off (1 failure(s), next attempt in " in city, city
    assert city.endswith("; does not answer its health check from here"), city
    code, out = await renkei("peers", "list", "--config", config, "--no-probe")
    assert "health check" not in line_of(out, NANAO)

    # The city is still down: only the operator's retry can cut the 30 s short.
    code, out = await renkei("peers", "retry", NANAO, "--config", config)
    assert code == 0, out
    assert f"{NANAO}: backoff cleared after 1 failure(s)" in out
    await until(cleared, timeout=5.0)  # the running node saw it, the city still down
    code, out = await renkei("peers", "retry", NANAO, "--config", config)
    assert code == 0 and "not backing off; nothing to clear" in out, out

    code, out = await renkei("peers", "retry", "jp-999999", "--config", config)
    assert code == 1 and "jp-999999 is not another member" in out, out

    await fed.restart_child(NANAO)
    code, out = await renkei("peers", "list", "--config", config)
    assert line_of(out, NANAO).endswith(": ok; answers its health check now"), out
