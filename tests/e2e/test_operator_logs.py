"""Logs an operator can work with (issue 14): an access line per gRPC call served and made and
per HTTP request, a WARNING when an agreement changes state, a stopping line per server, and
JSON lines or logfmt on request. Nothing a caller sent as a credential reaches the log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shlex
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from broker.config import load_config
from broker.demo.harness import LocalFederation, NodeSpec
from broker.identity import init_identity
from broker.logs import JsonFormatter, LogfmtFormatter, TextFormatter, fields, fields_of
from broker.service.entity_write import entity_write
from broker.service.model import FederatedQuery

CITY, AGENCY = "jp-172022", "jp-gov-bousai"
PURPOSE = "disaster_response"


def _access(caplog: pytest.LogCaptureFixture, node: str, side: str) -> list[dict[str, object]]:
    return [dict(fields_of(r)) for r in caplog.records
            if r.name == "renkei.access" and fields_of(r).get("node") == node
            and fields_of(r).get("side") == side]


async def test_grpc_calls_served_and_made_agreement_changes_and_stops_are_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    fed = LocalFederation(tmp_path)
    try:
        await fed.start_authority()
        city = await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao"))
        agency = await fed.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet", http=False))
        await fed.publish()
        await city.store.upsert_entities([entity_write({
            "id": f"urn:ngsi-ld:EvacuationSite:{CITY}:{i}", "type": "EvacuationSite",
            "capacity": {"type": "Property", "value": i}}) for i in range(3)], 1.0)
        await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-logs",
                        purpose=PURPOSE, types={"EvacuationSite": ["capacity"]})
        caplog.clear()
        query = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE,
                               agreement_id="agr-logs")
        outcome = await agency.fanout.query(query, deadline=10)
        assert [s.status for s in outcome.statuses] == ["ok"]

        served = [r for r in _access(caplog, CITY, "served") if r["method"] == "Query"]
        made = [r for r in _access(caplog, AGENCY, "made") if r["method"] == "Query"]
        assert len(served) == 1 and len(made) == 1, caplog.text
        for line, peer in ((served[0], AGENCY), (made[0], CITY)):
            assert line["peer"] == peer and line["agreement"] == "agr-logs"
            assert line["status"] == "OK" and line["reason"] == "" and line["entities"] == 3
            assert isinstance(line["bytes"], int) and line["bytes"] > 0
            assert isinstance(line["ms"], float)

        # A refused call: logged on both sides with the status and the stable reason.
        caplog.clear()
        denied = await agency.fanout.query(FederatedQuery(types=("EvacuationSite",),
                                                          purpose="marketing"), deadline=10,
                                           peers=[CITY])
        assert [s.status for s in denied.statuses] != ["ok"]
        made = [r for r in _access(caplog, AGENCY, "made") if r["method"] == "Query"]
        served = [r for r in _access(caplog, CITY, "served") if r["method"] == "Query"]
        if served:  # the consumer may refuse before calling (no agreement for the purpose)
            assert served[0]["status"] != "OK" and served[0]["reason"]
        assert all(r["status"] != "OK" for r in made)

        # An agreement that stops serving is a WARNING on both sides.
        caplog.clear()
        await city.exchange.revoke("agr-logs", "test")
        await agency.agreements.load()
        changes = [r for r in caplog.records if r.name == "renkei.agreements"
                   and r.levelno == logging.WARNING]
        assert {(fields_of(r)["role"], fields_of(r)["previous"], fields_of(r)["state"])
                for r in changes} >= {("provider", "active", "revoked"),
                                      ("consumer", "active", "revoked")}, caplog.text

        # No token ever reaches a log line.
        tokens = re.compile(r"eyJ[\w-]{10,}\.[\w-]{10,}")
        assert not tokens.search(caplog.text)

        caplog.clear()
        await fed.stop_node(CITY)
        stops = [r.getMessage() for r in caplog.records if "stopping" in r.getMessage()]
        assert any("gRPC server" in m for m in stops) and any("NGSI-LD API" in m
                                                               for m in stops), stops
    finally:
        await fed.stop()
        if fed.authority is not None:
            await fed.authority.stop()


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("renkei.access", logging.INFO, __file__, 1,
                               "http %s %s", ("GET", "/health"), None)
    record.__dict__.update(fields(**extra))
    return record


def test_json_lines_logfmt_and_text_carry_the_same_fields() -> None:
    record = _record(method="GET", status=200, route="/ngsi-ld/v1/entities/{entity_id}",
                     reason="", ms=1.5, unanswered=["199 jp-1 \"down\""])
    doc = json.loads(JsonFormatter().format(record))
    assert doc["level"] == "info" and doc["logger"] == "renkei.access"
    assert doc["msg"] == "http GET /health" and doc["status"] == 200 and doc["ms"] == 1.5
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["ts"])

    pairs = dict(p.split("=", 1) for p in shlex.split(LogfmtFormatter().format(record)))
    assert pairs["msg"] == "http GET /health" and pairs["status"] == "200"
    assert pairs["route"] == "/ngsi-ld/v1/entities/{entity_id}" and pairs["reason"] == ""
    assert json.loads(pairs["unanswered"]) == ["199 jp-1 \"down\""]

    text = TextFormatter().format(record)
    assert text.endswith("INFO renkei.access: http GET /health [method=GET status=200 "
                         "route=/ngsi-ld/v1/entities/{entity_id} reason=\"\" ms=1.5 "
                         "unanswered=\"[\\\"199 jp-1 \\\\\\\"down\\\\\\\"\\\"]\"]")


@pytest.mark.timeout(120)
async def test_node_run_writes_json_lines_with_an_access_line_per_request(
        tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path / "fed")
    await fed.start_authority()
    config = fed.write_config(NodeSpec(CITY, "city", "七尾市", "Nanao"))
    init_identity(load_config(config))
    # A directory is published, but this node was never admitted: it must say so.
    fed.authority.authority.publish(fed.clock.now())  # type: ignore[union-attr]
    log = tmp_path / "node.log"
    with log.open("wb") as stderr:  # the child holds its own copy; ours closes here
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "broker.cli.main", "--log-format", "json", "node", "run",
            "--config", str(config), stdout=asyncio.subprocess.PIPE, stderr=stderr)
    secret = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzcHkifQ.c2lnbmF0dXJlLW5vdC1yZWFs"
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        url = re.search(r"HTTP (\S+);", line)
        assert url, (line, log.read_text())
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url.group(1)}/health") as resp:
                assert resp.status == 200
            async with session.get(f"{url.group(1)}/ngsi-ld/v1/entities/",
                                   params={"type": "EvacuationSite"},
                                   headers={"Authorization": f"Bearer {secret}"}) as resp:
                assert resp.status == 401
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        await fed.authority.stop()  # type: ignore[union-attr]
    text = log.read_text()
    lines = [json.loads(raw) for raw in text.splitlines() if raw.strip()]  # every line JSON
    http = [d for d in lines if d.get("kind") == "http"]
    assert [(d["method"], d["route"], d["status"]) for d in http] == [
        ("GET", "/health", 200), ("GET", "/ngsi-ld/v1/entities", 401)], http
    assert http[1]["reason"] == "invalid_token" and http[1]["node"] == CITY
    assert secret not in text and "EvacuationSite" not in text  # no token, no query string
    assert any(d["msg"].startswith("gRPC server") and "stopping" in d["msg"] for d in lines)
    assert any("NGSI-LD API" in d["msg"] and "stopping" in d["msg"] for d in lines)
    admitted = [d for d in lines if "is not in member directory v1" in d["msg"]]
    assert admitted and admitted[0]["level"] == "warning"
    assert "renkei node join-request" in admitted[0]["msg"]


async def test_a_peer_going_down_and_coming_back_is_a_warning_each_way(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    fed = LocalFederation(tmp_path)
    try:
        await fed.start_authority()
        await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao", http=False))
        agency = await fed.add_node(NodeSpec(AGENCY, "agency", "内閣府", "Cabinet", http=False))
        await fed.publish()
        await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-peer",
                        purpose=PURPOSE, types={"EvacuationSite": ["capacity"]})
        await fed.stop_node(CITY)
        caplog.clear()
        query = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE)
        down = await agency.fanout.query(query, deadline=5)
        assert [s.status for s in down.statuses] != ["ok"]

        def changes() -> list[tuple[str, str]]:
            return [(str(fields_of(r)["previous"]), str(fields_of(r)["state"]))
                    for r in caplog.records if r.name == "renkei.federation.backoff"
                    and r.levelno == logging.WARNING and fields_of(r).get("peer") == CITY]

        assert changes() == [("ok", "backing_off")], caplog.text
        await fed.start_node(CITY)
        for _ in range(100):  # the health probe (every second) sees it back
            if len(changes()) == 2:
                break
            await asyncio.sleep(0.1)
        assert changes() == [("ok", "backing_off"), ("backing_off", "ok")], caplog.text
    finally:
        await fed.stop()
        if fed.authority is not None:
            await fed.authority.stop()
