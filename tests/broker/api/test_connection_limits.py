"""Half-sent HTTP requests cannot exhaust the node (issue 12, crashes and hangs): 1,100
connections that send a request line and one header and then nothing. Headers late are
closed after [http] header_timeout_seconds, one address holds at most
max_connections_per_address, and /health keeps answering from another address meanwhile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from broker.demo.harness import LocalFederation, NodeSpec
from broker.node import Node

from .conftest import CITY, LOOPBACK_ALLOWED, ApiClient, client_token

ATTACKER = "127.0.0.2"  # loopback too: the whole of 127.0.0.0/8 reaches the node
HALF = b"GET /ngsi-ld/v1/entities?type=EvacuationSite HTTP/1.1\r\nHost: node\r\n"
LIMITS = """[http]
header_timeout_seconds = 2.0
body_timeout_seconds = 2.0
max_connections_per_address = 100
max_connections = 400
"""


class LimitedFederation(LocalFederation):
    """Nodes whose [http] section carries the limits above, as an operator would write."""

    def write_config(self, spec: NodeSpec) -> Path:
        path = super().write_config(spec)
        path.write_text(path.read_text(encoding="utf-8").replace("[http]\n", LIMITS),
                        encoding="utf-8")
        return path


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    fed = LimitedFederation(tmp_path, insecure=True, notification_allow=LOOPBACK_ALLOWED)
    await fed.start_authority()
    try:
        city = await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao"))
        await fed.publish()
        yield city
    finally:
        await fed.stop()


async def half_open(node: Node, count: int) -> list[asyncio.StreamWriter]:
    """``count`` connections from ATTACKER, each with a request that never ends (those the
    node refuses at once are closed by it; their writers are returned all the same)."""
    writers = []
    for _ in range(count):
        try:
            _reader, writer = await asyncio.open_connection(
                "127.0.0.1", node.http.port, local_addr=(ATTACKER, 0))
            writer.write(HALF)
            writers.append(writer)
        except OSError:
            pass  # refused or reset: what a capped server may do
    return writers


async def closed_by_node(writer: asyncio.StreamWriter, reader_timeout: float) -> bool:
    transport = writer.transport
    loop = asyncio.get_running_loop()
    end = loop.time() + reader_timeout
    while loop.time() < end:
        if transport.is_closing():
            return True
        await asyncio.sleep(0.05)
    return transport.is_closing()


async def test_half_sent_requests_neither_pile_up_nor_stop_health(
        node: Node, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="renkei.api")
    writers = await half_open(node, 1100)
    try:
        guard = node.http.guard
        assert guard is not None
        # One address holds no more than its cap, whatever it opened.
        assert guard.open <= 100
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                async with session.get(node.http.url + "/health",
                                       timeout=aiohttp.ClientTimeout(total=5)) as resp:
                    assert resp.status == 200
        # The admitted ones are closed once their headers are late.
        loop = asyncio.get_running_loop()
        end = loop.time() + 15
        while guard.open > 0 and loop.time() < end:
            await asyncio.sleep(0.1)
        assert guard.open == 0
        # Every half-sent request was either refused at once or closed when late.
        assert guard.timed_out + guard.refused == 1100
        assert guard.timed_out >= 100 and guard.refused > 0
        # One line per address and kind, not one per connection.
        warnings = [r for r in caplog.records if r.name == "renkei.api"]
        assert 1 <= len(warnings) <= 4, [r.getMessage() for r in warnings]
    finally:
        for w in writers:
            w.close()


async def test_a_trickled_body_is_408(node: Node) -> None:
    async with aiohttp.ClientSession() as session:
        api = ApiClient(node, session, await client_token(node, session))
        reader, writer = await asyncio.open_connection("127.0.0.1", node.http.port)
        writer.write(b"POST /ngsi-ld/v1/entities HTTP/1.1\r\nHost: node\r\n"
                     b"Authorization: Bearer " + api.token.encode() + b"\r\n"  # type: ignore[union-attr]
                     b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert status.split()[1] == b"408", status
        health = await api.get("/health")
        assert health.status == 200


class SlowBodyFederation(LocalFederation):
    """A node whose requests have 1 s in all, while a body may take 20 s to arrive."""

    def write_config(self, spec: NodeSpec) -> Path:
        path = super().write_config(spec)
        path.write_text(path.read_text(encoding="utf-8").replace(
            "[http]\n", "[http]\nrequest_timeout_seconds = 1.0\nbody_timeout_seconds = 20.0\n"),
            encoding="utf-8")
        return path


async def test_a_request_past_its_time_limit_is_503(tmp_path: Path) -> None:
    # Issue 12: no per-request time limit; only the body read had one. A request that is
    # still waiting after [http] request_timeout_seconds ends with 503 RequestTimeLimit,
    # whatever it waits on (here: a body that never completes, under a longer body limit).
    federation = SlowBodyFederation(tmp_path, insecure=True)
    try:
        await federation.start_authority()
        node = await federation.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao"))
        await federation.publish()
        async with aiohttp.ClientSession() as session:
            api = ApiClient(node, session, await client_token(node, session))
            reader, writer = await asyncio.open_connection("127.0.0.1", node.http.port)
            writer.write(b"POST /ngsi-ld/v1/entities HTTP/1.1\r\nHost: node\r\n"
                         b"Authorization: Bearer " + api.token.encode()  # type: ignore[union-attr]
                         + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
            await writer.drain()
            head = await asyncio.wait_for(reader.read(4096), 10)
            writer.close()
            assert head.split()[1] == b"503", head
            assert b"RequestTimeLimit" in head and b"request_timeout_seconds" in head, head
            assert (await api.get("/health")).status == 200
    finally:
        await federation.stop()
