"""A disk that fills up under a running node (issue 18, part 4).

The node runs as ``renkei node run`` (a real process) with its data directory on a small
tmpfs the test mounts (and fails, not skips, when it cannot); its start-up ingest is larger
than the space left, so the ingest itself fills the disk. The node must stay up, keep
serving reads, refuse writes with 507 naming the full disk, pause the ingest, and finish it
once the operator frees space (here: deletes a ballast file on the same disk).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from broker.api.auth import ClientRegistry
from broker.config import load_config
from broker.demo.harness import LocalFederation, NodeSpec
from broker.identity import init_identity, join_request
from broker.store.sqlite import SqliteStore
from mappings.contexts import RENKEI_CONTEXT_URL
from mappings.loader import bundled_sample
from trust.clock import SystemClock

REPO = Path(__file__).resolve().parents[2]
CITY = "jp-172022"
DISK_MIB = 44
BALLAST_MIB = 16  # what the operator deletes to free space
# Of the 112-row Nanao file: 4032 entities in three batches of 2000. Measured with the entity
# history on (the default): the first batch leaves ~23 MiB of store (file + WAL), the whole
# run ~36 MiB; so the first batch fits beside the ballast, the second does not, all fits
# without it.
COPIES = 36
READY = re.compile(r"renkei node (\S+): gRPC (\S+) \((?:TLS|plaintext)\), HTTP (\S+);")
NANAO = bundled_sample("nanao_evacuation_sites")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """The node's directory on a tmpfs of DISK_MIB MiB, unmounted afterwards."""
    mount = tmp_path / "fed" / CITY
    mount.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs",
                           str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a {DISK_MIB} MiB tmpfs for the full-disk test (it needs "
                    f"root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def grow_nanao(path: Path, copies: int) -> int:
    with NANAO.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames or ()), list(reader)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        for i in range(copies):
            for row in rows:
                writer.writerow({**row, "ID": f"{row['ID']}-{i:05d}"})
    return copies * len(rows)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NodeProcess:
    def __init__(self, proc: asyncio.subprocess.Process, log: Path, http: str,
                 config: Path, rows: int, client: tuple[str, str]) -> None:
        self.proc, self.log, self.http = proc, log, http
        self.config, self.rows, self.client = config, rows, client

    def logged(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def until_logged(self, text: str, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while text not in self.logged():
            if self.proc.returncode is not None:
                raise AssertionError(f"the node exited (rc {self.proc.returncode}) before "
                                     f"logging {text!r}:\n{self.logged()[-3000:]}")
            if time.monotonic() > end:
                raise AssertionError(f"{text!r} not logged within {timeout}s:\n"
                                     f"{self.logged()[-3000:]}")
            await asyncio.sleep(0.1)


@pytest.fixture
async def node(tmp_path: Path, small_disk: Path) -> AsyncIterator[NodeProcess]:
    rows = tmp_path / "sites.csv"  # the source file lives elsewhere: only the store fills up
    total = grow_nanao(rows, COPIES)
    fed = LocalFederation(tmp_path / "fed")
    await fed.start_authority()
    proc = None
    try:
        port = free_port()
        spec = NodeSpec(CITY, "city", "七尾市", "Nanao City", grpc_port=port, sources=[
            {"name": "sites", "rules": "bundled:nanao_evacuation_sites", "path": str(rows)}])
        config_file = fed.write_config(spec)
        config = load_config(config_file)
        assert fed.authority is not None
        fed.authority.authority.admit(join_request(config, init_identity(config),
                                                   [f"127.0.0.1:{port}"]))
        fed.authority.authority.publish(time.time())
        # An API client, registered while there is room (the store is created here).
        store = SqliteStore(config.sqlite_path)
        await store.open()
        try:
            client = await ClientRegistry(store, SystemClock()).add(
                "app", "disaster_response", ("read", "write"))
        finally:
            await store.close()
        (small_disk / "ballast").write_bytes(b"\0" * (BALLAST_MIB << 20))
        log = tmp_path / "node.log"
        with log.open("wb") as stderr:  # the child keeps its own copy of the descriptor
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "broker.cli.main", "node", "run", "--config",
                str(config_file), cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=stderr)
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        ready = READY.match(line)
        assert ready, f"not ready: {line!r}\n{log.read_text(errors='replace')[-3000:]}"
        yield NodeProcess(proc, log, ready.group(3), config_file, total, client)
    finally:
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await fed.stop()


async def token_for(node: NodeProcess) -> str:
    client_id, secret = node.client
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    async with aiohttp.ClientSession() as http, http.post(
            node.http + "/oauth2/token", data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"}) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["access_token"])


def shelter(n: int) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:EvacuationSite:{CITY}:api-{n}", "type": "EvacuationSite",
            "capacity": {"type": "Property", "value": n}}


async def test_a_full_disk_pauses_ingest_refuses_writes_and_keeps_serving_reads(
        node: NodeProcess, small_disk: Path) -> None:
    token = await token_for(node)
    await node.until_logged("ingest[sites] paused", timeout=120)
    assert node.proc.returncode is None  # the node stays up
    committed = await asyncio.to_thread(_count, load_config(node.config).sqlite_path)
    assert 0 < committed < node.rows
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
               "Link": f'<{RENKEI_CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"; '
                       'type="application/ld+json"'}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(node.http + "/health") as resp:
            assert resp.status == 200  # reads are served: degraded, not down
            health = await resp.json()
        # The paused ingest has a state of its own, with the reason's stable code (before:
        # "ingesting", as if it were going on).
        assert health["status"] == "degraded", health
        assert health["sources"] == [{"name": "sites", "state": "paused", "code": "store_full"}]
        assert health["loops"]["sources"]["state"] == "running"
        async with http.get(node.http + "/ngsi-ld/v1/entities",
                            params={"type": "EvacuationSite", "limit": "10"}) as resp:
            assert resp.status == 200, await resp.text()
            assert len(await resp.json()) == 10  # what was committed is served
        async with http.post(node.http + "/ngsi-ld/v1/entities", json=shelter(1)) as resp:
            problem = await resp.json()
            assert resp.status == 507, problem
            assert problem["code"] == "store_full" and "disk" in problem["detail"]
            assert "full" in problem["detail"] and str(small_disk) not in problem["detail"]
        assert "the disk is full" in node.logged()  # the node's log names the place
        async with http.get(node.http + "/metrics") as resp:
            assert resp.status == 200
            scraped = await resp.text()
        refused = [line for line in scraped.splitlines()
                   if line.startswith("renkei_http_requests_total{") and 'method="POST"' in line
                   and 'status="507"' in line]
        assert refused and refused[0].endswith(" 1.0"), refused  # the 507 is counted
        states = _samples(scraped, "renkei_source_state")
        assert states[("sites", "paused")] == 1.0 and states[("sites", "ingesting")] == 0.0
        assert _samples(scraped, "renkei_loop_up")[("sources",)] == 1.0

        (small_disk / "ballast").unlink()  # the operator frees space
        await node.until_logged("ingest[sites] resumed", timeout=60)
        async with http.post(node.http + "/ngsi-ld/v1/entities", json=shelter(2)) as resp:
            assert resp.status == 201, await resp.text()
    end = time.monotonic() + 120
    while True:  # the ingest goes on to the end of the file
        count = await asyncio.to_thread(_count, load_config(node.config).sqlite_path)
        if count == node.rows + 1 or time.monotonic() > end:
            break
        await asyncio.sleep(0.5)
    assert count == node.rows + 1  # every row of the file, and the one API write
    assert node.proc.returncode is None
    async with aiohttp.ClientSession() as http:
        for _ in range(600):  # the run's end is recorded just after its last batch
            async with http.get(node.http + "/health") as resp:
                health = await resp.json()
            if health["sources"][0]["state"] == "ok":
                break
            await asyncio.sleep(0.1)
        assert resp.status == 200 and health["status"] == "ok", health
        assert health["sources"][0]["mapped"] == node.rows
        async with http.get(node.http + "/metrics") as resp:
            states = _samples(await resp.text(), "renkei_source_state")
        assert states[("sites", "paused")] == 0.0 and states[("sites", "ok")] == 1.0


def _samples(exposition: str, name: str) -> dict[tuple[str, ...], float]:
    """label values (in order) -> value of the metric ``name``, parsed as Prometheus does."""
    return {tuple(s.labels.values()): s.value
            for family in text_string_to_metric_families(exposition)
            for s in family.samples if s.name == name}


def _count(path: Path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM entities").fetchone()[0])
    finally:
        db.close()
