"""The README's curl examples (its NGSI-LD HTTP API section), run against a live node.

Every ```sh block runs, in order, in one bash with ``set -euo pipefail``; the node's real port
and a freshly registered client replace the README's placeholders.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from broker.api.auth import ClientRegistry

from .conftest import RENKEI_LINK, ApiClient, basic

README = Path(__file__).resolve().parents[3] / "README.md"


def examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## NGSI-LD HTTP API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def test_the_readme_has_curl_examples() -> None:
    blocks = examples()
    assert len(blocks) >= 6 and all("127.0.0.1:8080" in b for b in blocks[1:])


async def test_readme_curl_examples_run(api: ApiClient) -> None:
    if shutil.which("curl") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("curl is not installed: the README's examples cannot run")
        pytest.skip("curl is not installed")
    client_id, secret = await ClientRegistry(api.node.store, api.node.clock).add(
        "dashboard", "disaster_response", ("read", "write"))
    host = f"127.0.0.1:{api.node.http.port}"
    script = "set -euo pipefail\n" + "\n".join(examples())
    script = script.replace("127.0.0.1:8080", host)
    script = re.sub(r"^CLIENT_ID=.*$", f"CLIENT_ID={client_id}", script, flags=re.M)
    script = re.sub(r"^CLIENT_SECRET=.*$", f"CLIENT_SECRET={secret}", script, flags=re.M)
    proc = await asyncio.to_thread(subprocess.run, ["bash", "-c", script], capture_output=True,
                                   text=True, timeout=60)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    renkei = api.speaking(RENKEI_LINK)
    entity = (await renkei.get(
        "/ngsi-ld/v1/entities/urn:ngsi-ld:EvacuationSite:jp-172022:0001")).json()
    assert entity["capacity"]["value"] == 360
    # Subscriptions are their owner's: the README's client (not this fixture's) sees its own.
    assert (await renkei.get("/ngsi-ld/v1/subscriptions")).json() == []
    async with api.session.post(api.url + "/oauth2/token",
                                data={"grant_type": "client_credentials"},
                                headers={"Authorization": basic(client_id, secret)}) as resp:
        token = (await resp.json())["access_token"]
    dashboard = ApiClient(api.node, api.session, token, RENKEI_LINK)
    subs = (await dashboard.get("/ngsi-ld/v1/subscriptions")).json()
    assert subs[0]["watchedAttributes"] == ["capacity"]
