"""Transport security and operations: pinned TLS, tokens at the edge, health, reflection,
graceful shutdown and the loud plaintext mode."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

sys.path.insert(0, str(Path(__file__).parents[1] / "broker" / "federation"))

from fedtools import AGENCY, NANAO, SITE_ATTRS, federation, seed, site  # noqa: E402

from broker.demo.harness import LocalFederation  # noqa: E402
from broker.node import Node  # noqa: E402
from broker.service.model import FederatedQuery  # noqa: E402
from trust.keys import write_private_file  # noqa: E402
from trust.tls import make_node_certificate  # noqa: E402

PURPOSE = "disaster_response"
QUERY = FederatedQuery(types=("EvacuationSite",), purpose=PURPOSE)


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[LocalFederation]:
    f = await federation(tmp_path, (AGENCY, NANAO))
    try:
        await seed(f.nodes[NANAO], [site(NANAO, n) for n in range(3)])
        await f.agree(provider=NANAO, consumer=AGENCY, agreement_id="agr-1", purpose=PURPOSE,
                      types={"EvacuationSite": SITE_ATTRS})
        yield f
    finally:
        await f.stop()


def _channel(node: Node) -> grpc.aio.Channel:
    """A plain gRPC client trusting the node's own certificate (as an operator's probe)."""
    credentials = grpc.ssl_channel_credentials(root_certificates=node.identity.cert_pem)
    return grpc.aio.secure_channel(node.grpc_endpoint, credentials,
                                   options=[("grpc.ssl_target_name_override", node.id)])


async def test_a_certificate_not_listed_in_the_directory_is_refused(
        fed: LocalFederation) -> None:
    await fed.stop_node(NANAO)
    # Nanao comes back on the same address with a certificate the authority never signed.
    config = fed.nodes[AGENCY].config  # any config: only the file names matter
    node_dir = fed.config_files[NANAO].parent
    cert_pem, key_pem = make_node_certificate(NANAO, [NANAO, "127.0.0.1"])
    (node_dir / config.cert_path.name).write_bytes(cert_pem)
    write_private_file(node_dir / config.tls_key_path.name, key_pem, overwrite=True)
    await fed.start_node(NANAO)

    outcome = await fed.nodes[AGENCY].fanout.query(QUERY, 5.0, peers=[NANAO])
    (status,) = outcome.statuses
    assert (status.status, status.reason) == ("error", "tls_fingerprint_mismatch")
    assert outcome.entities == []
    # Nothing reached Nanao's services: the token was never sent to the impostor.
    entries = await fed.nodes[NANAO].audit.entries()
    assert [e for e in entries if e.record.operation == "query"] == []


async def test_health_and_reflection_are_public_and_the_api_needs_a_token(
        fed: LocalFederation) -> None:
    nanao = fed.nodes[NANAO]
    async with _channel(nanao) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "renkei.federation.v1.Federation"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = reflect.ServerReflectionInfo(iter([
            reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = set()
        async for reply in replies:
            names |= {s.name for s in reply.list_services_response.service}
        assert {"renkei.federation.v1.Federation", "grpc.health.v1.Health"} <= names

        from broker.federation._pb import federation_pb2 as pb
        from broker.federation._pb import federation_pb2_grpc as pb_grpc

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pb_grpc.FederationStub(channel).Catalog(pb.CatalogRequest())
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert ("renkei-reason", "missing_token") in tuple(caught.value.trailing_metadata())


async def test_shutdown_reports_not_serving_before_the_server_stops(
        fed: LocalFederation) -> None:
    nanao = fed.nodes[NANAO]
    async with _channel(nanao) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service="renkei.federation.v1.Federation"))
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.create_task(fed.stop_node(NANAO))
        second = await asyncio.wait_for(watch.read(), 5.0)
        assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
        await stopping


async def test_plaintext_needs_the_insecure_dev_flag_and_says_so_loudly(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    fed = LocalFederation(tmp_path, insecure=True)
    try:
        from fedtools import spec

        await fed.start_authority()
        for member in (AGENCY, NANAO):
            await fed.add_node(spec(member))
        await fed.publish()
        await seed(fed.nodes[NANAO], [site(NANAO, 1)])
        await fed.agree(provider=NANAO, consumer=AGENCY, agreement_id="agr-1",
                        purpose=PURPOSE, types={"EvacuationSite": SITE_ATTRS})
        outcome = await fed.nodes[AGENCY].fanout.query(QUERY, 5.0, peers=[NANAO])
        assert [s.status for s in outcome.statuses] == ["ok"]
    finally:
        await fed.stop()
    server_warnings = [r for r in caplog.records
                       if r.levelno >= logging.WARNING and "WITHOUT TLS" in r.getMessage()]
    assert len(server_warnings) >= 3  # the authority and both nodes
    assert any("PLAINTEXT channel" in r.getMessage() for r in caplog.records)
