"""Calls to one peer node (``PeerChannel``) and to the authority (``AuthorityClient``).

One method per remote call; nothing here decides policy. The channel is TLS by default and
pinned: before the first call the peer's certificate is fetched and its SHA-256 fingerprint
must be one the signed directory lists for that member; the channel then trusts exactly that
certificate. Each call carries a short-lived token for the peer (audience = the peer).
Transient UNAVAILABLE errors are retried by the channel's service config; every other failure
becomes a ``PeerError`` (with the peer's stable reason code) at this boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from trust.tls import certificate_fingerprint

from ..errors import PeerRejected, PeerUnavailable
from ..service.model import (
    AggregateQuery,
    AggregateResult,
    AgreementMessage,
    Catalog,
    ChangeEvent,
    EntityBatch,
    EntityResult,
    FederatedQuery,
    GetRequest,
    QuerySummary,
    SubscribeRequest,
)
from . import codec
from ._pb import federation_pb2 as pb
from ._pb import federation_pb2_grpc as pb_grpc
from .status import peer_error

TokenSource = Callable[[str, str], str]  # (audience, agreement id) -> bearer token

SERVICE_CONFIG = json.dumps({
    "methodConfig": [{
        "name": [{"service": "renkei.federation.v1.Federation"},
                 {"service": "renkei.federation.v1.Authority"}],
        "retryPolicy": {
            "maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s",
            "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }]
})


def channel_options(max_message_bytes: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", SERVICE_CONFIG),
    ]


@dataclass(frozen=True)
class PeerAddress:
    """Where and how to reach a member: endpoint ``host:port`` and pinned fingerprints."""

    member_id: str
    endpoint: str
    tls_fingerprints: tuple[str, ...] = ()
    insecure: bool = False


async def open_channel(address: PeerAddress, max_message_bytes: int,
                       timeout: float = 5.0) -> grpc.aio.Channel:
    """A channel to ``address``; TLS pinned to the directory's fingerprints unless insecure."""
    options = channel_options(max_message_bytes)
    if address.insecure:
        return grpc.aio.insecure_channel(address.endpoint, options=options)
    host, _, port = address.endpoint.rpartition(":")
    try:
        pem = await asyncio.to_thread(ssl.get_server_certificate, (host, int(port)),
                                      timeout=timeout)
    except (OSError, ValueError) as exc:
        raise PeerUnavailable(address.member_id, f"cannot reach {address.endpoint}: {exc}"
                              ) from exc
    fingerprint = certificate_fingerprint(pem.encode())
    if fingerprint not in address.tls_fingerprints:
        raise PeerRejected(address.member_id,
                           "TLS certificate fingerprint is not in the signed directory",
                           reason="tls_fingerprint_mismatch", status="UNAUTHENTICATED")
    credentials = grpc.ssl_channel_credentials(root_certificates=pem.encode())
    options.append(("grpc.ssl_target_name_override", address.member_id))
    return grpc.aio.secure_channel(address.endpoint, credentials, options=options)


class PeerChannel:
    """The federation API of one peer, as seen from this node."""

    def __init__(self, address: PeerAddress, tokens: TokenSource, max_message_bytes: int) -> None:
        self.address = address
        self.peer = address.member_id
        self._tokens = tokens
        self._max = max_message_bytes
        self._channel: grpc.aio.Channel | None = None
        self._lock = asyncio.Lock()

    async def _stub(self) -> pb_grpc.FederationStub:
        async with self._lock:
            if self._channel is None:
                self._channel = await open_channel(self.address, self._max)
            return pb_grpc.FederationStub(self._channel)

    def _metadata(self, agreement_id: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", "Bearer " + self._tokens(self.peer, agreement_id)),)

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close()

    @contextlib.contextmanager
    def _translate(self) -> Any:
        try:
            yield
        except grpc.RpcError as exc:
            raise peer_error(self.peer, exc) from exc

    async def query(self, request: FederatedQuery, timeout: float
                    ) -> AsyncIterator[EntityBatch | QuerySummary]:
        stub = await self._stub()
        call = stub.Query(codec.query_to_pb(request), timeout=timeout,
                          metadata=self._metadata(request.agreement_id))
        try:
            with self._translate():
                async for item in call:
                    if item.HasField("batch"):
                        yield EntityBatch(tuple(item.batch.entities))
                    else:
                        s = item.summary
                        yield QuerySummary(s.count, s.next_page_token, s.receipt.jws)
        finally:
            call.cancel()

    async def get_entity(self, request: GetRequest, timeout: float) -> EntityResult:
        stub = await self._stub()
        with self._translate():
            reply = await stub.GetEntity(codec.get_to_pb(request), timeout=timeout,
                                         metadata=self._metadata(request.agreement_id))
        return EntityResult(reply.entity, reply.receipt.jws)

    async def aggregate(self, request: AggregateQuery, timeout: float) -> AggregateResult:
        stub = await self._stub()
        with self._translate():
            reply = await stub.Aggregate(codec.aggregate_to_pb(request), timeout=timeout,
                                         metadata=self._metadata(request.agreement_id))
        return codec.aggregate_result_from_pb(reply)

    async def catalog(self, purpose: str, timeout: float) -> Catalog:
        stub = await self._stub()
        with self._translate():
            reply = await stub.Catalog(pb.CatalogRequest(purpose=purpose), timeout=timeout,
                                       metadata=self._metadata(""))
        return codec.catalog_from_pb(reply)

    async def subscribe(self, request: SubscribeRequest,
                        timeout: float | None = None) -> AsyncIterator[ChangeEvent]:
        stub = await self._stub()
        call = stub.Subscribe(codec.subscribe_to_pb(request), timeout=timeout,
                              metadata=self._metadata(request.agreement_id))
        try:
            with self._translate():
                async for item in call:
                    yield codec.change_from_pb(item)
        finally:
            call.cancel()

    async def propose_agreement(self, message: AgreementMessage,
                                timeout: float) -> AgreementMessage:
        stub = await self._stub()
        with self._translate():
            reply = await stub.ProposeAgreement(codec.agreement_to_pb(message), timeout=timeout,
                                                metadata=self._metadata(""))
        return codec.agreement_from_pb(reply)

    async def countersign_agreement(self, message: AgreementMessage,
                                    timeout: float) -> AgreementMessage:
        stub = await self._stub()
        with self._translate():
            reply = await stub.CountersignAgreement(codec.agreement_to_pb(message),
                                                    timeout=timeout, metadata=self._metadata(""))
        return codec.agreement_from_pb(reply)

    async def revoke_agreement(self, agreement_id: str, reason: str, revocation_jws: str,
                               timeout: float) -> AgreementMessage:
        stub = await self._stub()
        request = pb.RevokeAgreementRequest(agreement_id=agreement_id, reason=reason,
                                            revocation_jws=revocation_jws)
        with self._translate():
            reply = await stub.RevokeAgreement(request, timeout=timeout,
                                               metadata=self._metadata(agreement_id))
        return codec.agreement_from_pb(reply)


class AuthorityClient:
    """Fetches the signed directory from the federation authority (a public call)."""

    def __init__(self, address: PeerAddress, max_message_bytes: int = 4 * 1024 * 1024) -> None:
        self.address = address
        self._max = max_message_bytes

    async def get_directory(self, known_version: int, timeout: float = 5.0) -> tuple[int, str]:
        channel = await open_channel(self.address, self._max)
        try:
            stub = pb_grpc.AuthorityStub(channel)
            try:
                reply = await stub.GetDirectory(
                    pb.GetDirectoryRequest(known_version=known_version), timeout=timeout)
            except grpc.RpcError as exc:
                raise peer_error(self.address.member_id, exc) from exc
            return reply.version, reply.jws
        finally:
            await channel.close()


def endpoints_of(member_endpoints: Sequence[str]) -> str:
    """The first endpoint of a member (several are listed for failover; one is used)."""
    return member_endpoints[0] if member_endpoints else ""
