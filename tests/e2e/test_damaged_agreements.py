"""Damaged agreements rows and a failing housekeeping loop (issue 18, part 3).

An agency holds three agreements with Nanao in its store (SQLite or PostgreSQL). As an
operator with database access could, the test breaks one row (terms that are not JSON) and
tampers with another (valid JSON, other terms than both parties signed). The running node
must keep its housekeeping going (it still learns of a revocation the CLI writes), log both
rows, and list them as damaged through the CLI; a loop that fails is reported on /health.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).parents[1] / "broker" / "federation"))

from fedtools import AGENCY, NANAO, SITE_ATTRS, spec, until  # noqa: E402

from broker.config import load_config  # noqa: E402
from broker.demo.harness import LocalFederation  # noqa: E402
from broker.node import Node  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PURPOSE = "disaster_response"


class Backend:
    """Raw SQL on the agency's own database, as its operator would type it."""

    def __init__(self, kind: str, config: Path, dsn: str = "", schema: str = "") -> None:
        self.kind, self.config, self.dsn, self.schema = kind, config, dsn, schema

    async def execute(self, sql: str, *args: Any) -> None:
        if self.kind == "sqlite":
            path = load_config(self.config).sqlite_path

            def run() -> None:
                db = sqlite3.connect(path)
                try:
                    db.execute(sql.replace("$1", "?").replace("$2", "?"), args)
                    db.commit()
                finally:
                    db.close()
            await asyncio.to_thread(run)
            return
        import asyncpg

        conn = await asyncpg.connect(self.dsn, server_settings={"search_path": self.schema})
        try:
            await conn.execute(sql, *args)
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def fed(request: pytest.FixtureRequest, tmp_path: Path
              ) -> AsyncIterator[tuple[LocalFederation, Backend]]:
    extra = ""
    dsn = schema = ""
    if request.param == "postgres":
        dsn, schema = request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_schema")
        extra = f'[store]\nbackend = "postgresql"\ndsn = "{dsn}"\nschema = "{schema}"\n'
    f = LocalFederation(tmp_path)
    try:
        await f.start_authority()
        await f.add_node(dataclasses.replace(spec(AGENCY, extra), http=True))
        await f.add_node(spec(NANAO))
        await f.publish()
        for n in (1, 2, 3):
            await f.agree(provider=NANAO, consumer=AGENCY, agreement_id=f"agr-{n}",
                          purpose=PURPOSE, types={"EvacuationSite": SITE_ATTRS})
        config = f.config_files[AGENCY]
        config.write_text(config.read_text().replace("[trust]\n",
                                                     "[trust]\ndirectory_poll_seconds = 1\n"))
        yield f, Backend(request.param, config, dsn, schema)
    finally:
        await f.stop()


async def renkei(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli.main", *args, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def health(node: Node) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{node.http.url}/health") as resp:
        return resp.status, await resp.json()


async def damage(fed: LocalFederation, backend: Backend) -> None:
    """agr-2: terms that are not JSON; agr-3: valid JSON, but not what either party signed."""
    store = fed.nodes[AGENCY].store
    row = await store.get_agreement("agr-3")
    assert row is not None
    terms = orjson.loads(row.document)
    terms["purpose"] = "research"  # a purpose nobody agreed to
    await backend.execute("UPDATE agreements SET document = $1 WHERE id = $2",
                          b"{not json", "agr-2")
    await backend.execute("UPDATE agreements SET document = $1 WHERE id = $2",
                          orjson.dumps(terms), "agr-3")


async def test_damaged_rows_are_logged_listed_and_housekeeping_goes_on(
        fed: tuple[LocalFederation, Backend], caplog: pytest.LogCaptureFixture) -> None:
    federation, backend = fed
    config = federation.config_files[AGENCY]
    await damage(federation, backend)
    caplog.set_level(logging.ERROR, logger="renkei.agreements")
    agency = await federation.restart(AGENCY)
    assert agency.agreements.get("agr-1").state == "active"  # the good row still loads

    # The CLI writes a revocation: the running node's housekeeping picks it up.
    code, out = await renkei("agreement", "revoke", "agr-1", "--no-send", "--reason", "test",
                             "--config", str(config))
    assert code == 0, out
    await until(lambda: _state(agency, "agr-1", "revoked"), timeout=15)

    damaged = {r.id: r.damage for r in agency.agreements.unreadable()}
    assert list(damaged) == ["agr-2"] and "not JSON" in damaged["agr-2"]
    tampered = agency.agreements.get("agr-3")
    assert tampered.state == "damaged"
    assert "differ from what" in tampered.damage
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "agr-2" in logged and "agr-3" in logged and "damaged" in logged

    code, out = await renkei("agreement", "list", "--config", str(config))
    assert code == 0, out
    lines = {line.split(" ", 1)[0]: line for line in out.splitlines()}
    assert "[revoked]" in lines["agr-1"]
    assert "[damaged]" in lines["agr-2"] and "not JSON" in lines["agr-2"]
    assert "[damaged]" in lines["agr-3"] and "differ from what" in lines["agr-3"]

    status, body = await health(agency)
    assert status == 200 and body["loops"]["housekeeping"]["state"] == "running"


async def test_health_reports_a_failing_housekeeping_loop_until_it_recovers(
        fed: tuple[LocalFederation, Backend]) -> None:
    federation, backend = fed
    agency = await federation.restart(AGENCY)
    status, body = await health(agency)
    assert status == 200 and body["status"] == "ok"
    await backend.execute("ALTER TABLE agreements RENAME TO agreements_away")
    try:
        await until(lambda: _loop_state(agency, "failed"), timeout=15)
        status, body = await health(agency)
        assert status == 503 and body["status"] == "degraded"
        loop = body["loops"]["housekeeping"]
        assert loop["state"] == "failed" and "agreements" in loop["lastError"]
        scraped = await loop_metrics(agency)  # a dead loop shows on /metrics too
        assert scraped["renkei_loop_up", "housekeeping"] == 0.0
        assert scraped["renkei_loop_failures_total", "housekeeping"] >= 1.0
        assert scraped["renkei_loop_up", "directory-follow"] == 1.0
    finally:
        await backend.execute("ALTER TABLE agreements_away RENAME TO agreements")
    await until(lambda: _loop_state(agency, "running"), timeout=15)
    status, body = await health(agency)
    assert status == 200 and body["loops"]["housekeeping"]["failures"] >= 1
    scraped = await loop_metrics(agency)
    assert scraped["renkei_loop_up", "housekeeping"] == 1.0
    assert scraped["renkei_loop_failures_total", "housekeeping"] == \
        body["loops"]["housekeeping"]["failures"]


async def loop_metrics(node: Node) -> dict[tuple[str, str], float]:
    """(metric, loop) -> value of the renkei_loop_* samples on /metrics, parsed as Prometheus
    does."""
    async with aiohttp.ClientSession() as http, http.get(f"{node.http.url}/metrics") as resp:
        text = await resp.text()
    return {(s.name, s.labels["loop"]): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples if s.name in ("renkei_loop_up", "renkei_loop_failures_total")}


async def _state(node: Node, agreement_id: str, state: str) -> bool:
    return node.agreements.get(agreement_id).state == state


async def _loop_state(node: Node, state: str) -> bool:
    status, body = await health(node)
    return bool(body["loops"]["housekeeping"]["state"] == state)
