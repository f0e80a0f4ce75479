"""Hostile federation calls over real gRPC on loopback: malformed protobuf, oversized requests,
callers without a token or an agreement. Each gets its stable refusal quickly and the node
keeps answering everyone else (issue 12, crashes and hangs)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from broker.demo.harness import LocalFederation, NodeSpec
from broker.federation._pb import federation_pb2 as pb
from broker.federation.grpc_client import PeerChannel
from broker.federation.status import reason_of

CITY, AGENCY, STRANGER = "jp-172022", "jp-gov-bousai", "jp-172049"
PURPOSE = "disaster_response"
SERVICE = "/renkei.federation.v1.Federation/"
MALFORMED = {
    "random bytes": bytes(range(255, 200, -1)) * 3,
    "truncated varint": b"\x0a\x01a\x10\xff\xff",  # a varint cut at the end of the message
    "length past the end": b"\x0a\x40abc",
    "invalid UTF-8 in a string": b"\x0a\x02\xff\xfe",
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    federation = LocalFederation(tmp_path)
    try:
        await federation.start_authority()
        for member, role in ((CITY, "city"), (AGENCY, "agency"), (STRANGER, "city")):
            await federation.add_node(NodeSpec(member, role, member, member, http=False))
        await federation.publish()
        await federation.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-1",
                               purpose=PURPOSE, types={"EvacuationSite": ["capacity"]})
        yield federation
    finally:
        await federation.stop()


async def raw_call(channel: PeerChannel, method: str, body: bytes, *,
                   token: bool = True) -> grpc.aio.AioRpcError:
    """Send ``body`` as the request message of ``method``; the error the node answered."""
    await channel._stub(5.0)
    assert channel._channel is not None
    metadata = channel._metadata("agr-1") if token else ()
    if method == "Query":
        call: Any = channel._channel.unary_stream(SERVICE + method)(body, metadata=metadata,
                                                                    timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in call:
                pass
    else:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await channel._channel.unary_unary(SERVICE + method)(body, metadata=metadata,
                                                                 timeout=10)
    return refused.value


async def test_malformed_protobuf_is_invalid_argument_with_one_warning(
        fed: LocalFederation, caplog: pytest.LogCaptureFixture) -> None:
    channel = fed.nodes[AGENCY].peers()[CITY]
    caplog.set_level(logging.WARNING)
    for method in ("Query", "GetEntity", "Aggregate"):
        for name, body in MALFORMED.items():
            caplog.clear()
            error = await raw_call(channel, method, body)
            assert (error.code(), reason_of(error)) == (
                grpc.StatusCode.INVALID_ARGUMENT, "malformed_request"), (method, name)
            server = [r for r in caplog.records if r.name.startswith("renkei.federation")]
            assert [r.levelname for r in server] == ["WARNING"], (method, name, server)
            assert "Traceback" not in caplog.text


async def test_an_unauthenticated_caller_is_unauthenticated_whatever_it_sends(
        fed: LocalFederation) -> None:
    channel = fed.nodes[AGENCY].peers()[CITY]
    good = pb.GetEntityRequest(id="urn:ngsi-ld:EvacuationSite:x").SerializeToString()
    for body in [good, *MALFORMED.values()]:
        for method in ("Query", "GetEntity", "Aggregate"):
            error = await raw_call(channel, method, body, token=False)
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED, (method, body)


def huge_query(conditions: int) -> bytes:
    return pb.QueryRequest(
        types=["EvacuationSite"], purpose=PURPOSE, agreement_id="agr-1",
        q=[pb.Condition(attribute="capacity", op=pb.Condition.GT, value_json=str(i))
           for i in range(conditions)]).SerializeToString()


async def test_a_query_with_180000_conditions_is_refused_and_health_answers(
        fed: LocalFederation) -> None:
    body = huge_query(180_000)
    assert len(body) < 4 * 1024 * 1024  # under the message cap: only the count refuses it
    for member in (AGENCY, STRANGER):  # with an agreement, and without any
        channel = fed.nodes[member].peers()[CITY]
        error = await raw_call(channel, "Query", body)
        assert (error.code(), reason_of(error)) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED, "limit_exceeded"), member
        assert "at most 1000" in (error.details() or "")
    # Many at once from the member without an agreement: the node's health still answers.
    channel = fed.nodes[STRANGER].peers()[CITY]
    calls = [asyncio.ensure_future(raw_call(channel, "Query", body)) for _ in range(4)]
    health = health_pb2_grpc.HealthStub(fed.nodes[AGENCY].peers()[CITY]._channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    await asyncio.gather(*calls)
