"""The gRPC server of a node: thin servicers, health, reflection and graceful shutdown.

Each servicer method decodes, takes the caller from the auth interceptor's context variable,
calls one service method and encodes; errors are translated at one boundary (the ``unary``
and ``streaming`` decorators), mapped in ``status.py``. Shutdown sets the
health service to NOT_SERVING first, so that load balancers stop sending new calls, then gives
in-flight calls a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..config import default_connection_cap
from ..errors import BadRequest, LimitExceeded, NotFound
from ..logs import fields
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
    TemporalQuery,
)
from . import codec
from ._pb import federation_pb2 as pb
from ._pb import federation_pb2_grpc as pb_grpc
from .access import AccessInterceptor, CallObserver
from .grpc_client import channel_options
from .interceptors import TokenAuthInterceptor, current_caller
from .status import abort

log = logging.getLogger("renkei.federation.server")
S = TypeVar("S")
Q = TypeVar("Q")
R = TypeVar("R")
MAX_METADATA_BYTES = 256 * 1024  # per call; tokens are refused above 4 KiB anyway


def unary(method: Callable[[S, Q, Any], Awaitable[R]]
          ) -> Callable[[S, Q, Any], Coroutine[Any, Any, R]]:
    """The one error boundary of a unary method: any exception ends the call with its
    mapped status and reason (``status.abort``)."""
    @functools.wraps(method)
    async def call(self: S, request: Q, context: Any) -> R:
        try:
            return await method(self, request, context)
        except Exception as exc:
            await abort(context, exc)

    return call


class _Streams(Protocol):
    stall_seconds: float  # a write the reader takes nothing of for this long ends the stream


T = TypeVar("T", bound=_Streams)


def streaming(method: Callable[[T, Q, Any], AsyncIterator[R]]
              ) -> Callable[[T, Q, Any], Coroutine[Any, Any, None]]:
    """The same boundary for a streaming method, which also writes its messages: each with
    ``context.write`` under ``stall_seconds``, because a reader that stops reading blocks the
    write under HTTP/2 flow control and would hold its stream slot for ever; such a stream
    ends with ``RESOURCE_EXHAUSTED`` ``stream_stalled``. What was sent stays sent, then an
    error ends the stream with its mapped status."""
    @functools.wraps(method)
    async def call(self: T, request: Q, context: Any) -> None:
        try:
            items = method(self, request, context)
            async with contextlib.aclosing(items):  # type: ignore[type-var]
                async for item in items:
                    try:
                        async with asyncio.timeout(self.stall_seconds):
                            await context.write(item)
                    except TimeoutError:
                        log.warning("peer[%s] stream ended: its reader took nothing for %g s",
                                    current_caller().member_id, self.stall_seconds)
                        raise LimitExceeded(
                            f"the stream's reader took nothing for {self.stall_seconds:g} s",
                            code="stream_stalled") from None
        except Exception as exc:
            await abort(context, exc)

    return call


class ProviderApi(Protocol):
    """What the federation servicer needs from the service layer."""

    def query(self, caller: Any, request: FederatedQuery
              ) -> AsyncIterator[EntityBatch | QuerySummary]: ...

    async def get_entity(self, caller: Any, request: GetRequest) -> EntityResult: ...

    def temporal_query(self, caller: Any, request: TemporalQuery
                       ) -> AsyncIterator[EntityBatch | QuerySummary]: ...

    async def aggregate(self, caller: Any, request: AggregateQuery,
                        deadline: float | None = None) -> AggregateResult: ...

    def subscribe(self, caller: Any, request: SubscribeRequest) -> AsyncIterator[ChangeEvent]: ...

    async def catalog(self, caller: Any, purpose: str) -> Catalog: ...


class AgreementApi(Protocol):
    async def receive_proposal(self, caller: Any, message: AgreementMessage
                               ) -> AgreementMessage: ...

    async def receive_countersignature(self, caller: Any, message: AgreementMessage
                                       ) -> AgreementMessage: ...

    async def receive_revocation(self, caller: Any, agreement_id: str, reason: str,
                                 revocation_jws: str) -> AgreementMessage: ...


DirectorySource = Callable[[int], Awaitable[tuple[int, str]]]


class FederationServicer(pb_grpc.FederationServicer):
    """Streams write each message with a time limit (``stall_seconds``): a reader that stops
    reading blocks the write under HTTP/2 flow control, and the stream is then ended
    (``RESOURCE_EXHAUSTED`` ``stream_stalled``), which frees the caller's stream slot."""

    def __init__(self, provider: ProviderApi, agreements: AgreementApi, hop_limit: int, *,
                 stall_seconds: float = 30.0) -> None:
        self._provider = provider
        self._agreements = agreements
        self._hops = hop_limit
        self.stall_seconds = stall_seconds

    @streaming
    async def Query(self, request: pb.QueryRequest, context: Any) -> AsyncIterator[Any]:
        query = codec.query_from_pb(request, self._hops)
        async for item in self._provider.query(current_caller(), query):
            if isinstance(item, EntityBatch):
                yield pb.QueryResponse(batch=pb.EntityBatch(entities=list(item.entities)))
            else:
                yield pb.QueryResponse(summary=pb.QuerySummary(
                    count=item.count, next_page_token=item.next_page_token,
                    receipt=pb.Receipt(jws=item.receipt)))

    @streaming
    async def TemporalQuery(self, request: pb.TemporalQueryRequest,
                            context: Any) -> AsyncIterator[Any]:
        query = codec.temporal_from_pb(request, self._hops)
        async for item in self._provider.temporal_query(current_caller(), query):
            if isinstance(item, EntityBatch):
                yield pb.QueryResponse(batch=pb.EntityBatch(entities=list(item.entities)))
            else:
                yield pb.QueryResponse(summary=pb.QuerySummary(
                    count=item.count, next_page_token=item.next_page_token,
                    receipt=pb.Receipt(jws=item.receipt)))

    @unary
    async def GetEntity(self, request: pb.GetEntityRequest, context: Any) -> Any:
        result = await self._provider.get_entity(current_caller(),
                                                 codec.get_from_pb(request, self._hops))
        return pb.GetEntityResponse(entity=result.entity,
                                    receipt=pb.Receipt(jws=result.receipt))

    @unary
    async def Aggregate(self, request: pb.AggregateRequest, context: Any) -> Any:
        result = await self._provider.aggregate(current_caller(),
                                                codec.aggregate_from_pb(request, self._hops),
                                                context.time_remaining())
        return codec.aggregate_result_to_pb(result)

    @streaming
    async def Subscribe(self, request: pb.SubscribeRequest, context: Any) -> AsyncIterator[Any]:
        async for event in self._provider.subscribe(current_caller(),
                                                    codec.subscribe_from_pb(request)):
            yield codec.change_to_pb(event)

    @unary
    async def Catalog(self, request: pb.CatalogRequest, context: Any) -> Any:
        return codec.catalog_to_pb(await self._provider.catalog(current_caller(),
                                                                request.purpose))

    @unary
    async def ProposeAgreement(self, request: pb.AgreementEnvelope, context: Any) -> Any:
        reply = await self._agreements.receive_proposal(current_caller(),
                                                        codec.agreement_from_pb(request))
        return codec.agreement_to_pb(reply)

    @unary
    async def CountersignAgreement(self, request: pb.AgreementEnvelope, context: Any) -> Any:
        reply = await self._agreements.receive_countersignature(
            current_caller(), codec.agreement_from_pb(request))
        return codec.agreement_to_pb(reply)

    @unary
    async def RevokeAgreement(self, request: pb.RevokeAgreementRequest, context: Any) -> Any:
        reply = await self._agreements.receive_revocation(
            current_caller(), request.agreement_id, request.reason, request.revocation_jws)
        return codec.agreement_to_pb(reply)


class WitnessApi(Protocol):
    statement: str

    async def add_checkpoint(self, caller: str, body: bytes) -> str: ...

    async def list_cosigned(self, origin: str, min_size: int, limit: int) -> Any: ...


class AuditLogApi(Protocol):
    async def consistency_proof(self, old: int, new: int) -> list[bytes]: ...

    async def checkpoint_at(self, size: int) -> Any: ...


class WitnessServicer(pb_grpc.WitnessServicer):
    """Peers' checkpoints cosigned by this node, and proofs of this node's own log."""

    def __init__(self, witness: WitnessApi, audit: AuditLogApi) -> None:
        self._witness = witness
        self._audit = audit

    @unary
    async def AddCheckpoint(self, request: pb.AddCheckpointRequest, context: Any) -> Any:
        line = await self._witness.add_checkpoint(current_caller().member_id, request.body)
        return pb.AddCheckpointResponse(cosignatures=line.encode(),
                                        witness_key=self._witness.statement)

    @unary
    async def ListCosigned(self, request: pb.ListCosignedRequest, context: Any) -> Any:
        current_caller()
        page = await self._witness.list_cosigned(request.origin[:256], request.min_size,
                                                 request.limit)
        return pb.ListCosignedResponse(checkpoints=[c.encode() for c in page.checkpoints],
                                       witness_key=page.witness_key, more=page.more)

    @unary
    async def GetConsistencyProof(self, request: pb.ConsistencyProofRequest,
                                  context: Any) -> Any:
        current_caller()
        checkpoint = await self._audit.checkpoint_at(request.new_size)
        if checkpoint is None:
            raise NotFound(f"this log signed no checkpoint of size {request.new_size}")
        proof = await self._audit.consistency_proof(request.old_size, request.new_size)
        return pb.ConsistencyProofResponse(proof=proof,
                                           checkpoint=checkpoint.format().encode())


class AuthorityServicer(pb_grpc.AuthorityServicer):
    """Serves the newest signed directory; public, since the JWS is its own proof."""

    def __init__(self, source: DirectorySource) -> None:
        self._source = source

    @unary
    async def GetDirectory(self, request: pb.GetDirectoryRequest, context: Any) -> Any:
        version, jws = await self._source(request.known_version)
        if not jws:
            raise BadRequest("the authority has not published a directory yet")
        return pb.SignedDirectory(jws=jws, version=version)


@dataclass(frozen=True)
class TlsIdentity:
    key_pem: bytes
    cert_pem: bytes


class GrpcServer:
    """One grpc.aio server with the federation (or authority) services, health and reflection."""

    def __init__(self, listen: str, max_message_bytes: int, tls: TlsIdentity | None,
                 interceptor: TokenAuthInterceptor | None = None,
                 observer: CallObserver | None = None,
                 tracing: grpc.aio.ServerInterceptor | None = None, *,
                 handshake_timeout_seconds: float = 10.0, max_connections: int = 0) -> None:
        self._listen = listen
        self._tls = tls
        # Tracing first, then the access interceptor: it sees (and logs, with the trace id)
        # the calls the token check refuses.
        interceptors: list[grpc.aio.ServerInterceptor] = []
        if tracing is not None:
            interceptors.append(tracing)
        if observer is not None:
            interceptors.append(AccessInterceptor(observer))
        if interceptor is not None:
            interceptors.append(interceptor)
        self._server = grpc.aio.server(
            interceptors=interceptors,
            options=channel_options(max_message_bytes) + [
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                # A connection that never finishes its handshake is closed (the default is
                # two minutes), and connections are capped below the descriptor limit.
                ("grpc.server_handshake_timeout_ms", int(handshake_timeout_seconds * 1000)),
                ("grpc.max_allowed_incoming_connections",
                 max_connections or default_connection_cap()),
                # gRPC's own 8 KiB metadata limit would refuse an oversized token with a bare
                # RESOURCE_EXHAUSTED; let it reach the token verifier, whose size limit
                # answers UNAUTHENTICATED malformed_token with the stable reason.
                ("grpc.max_metadata_size", MAX_METADATA_BYTES),
                ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
            ],
            maximum_concurrent_rpcs=1000)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self._services = [health.SERVICE_NAME, reflection.SERVICE_NAME]
        self.port = 0

    def add_federation(self, servicer: FederationServicer) -> None:
        pb_grpc.add_FederationServicer_to_server(servicer, self._server)
        self._services.append(pb.DESCRIPTOR.services_by_name["Federation"].full_name)

    def add_witness(self, servicer: WitnessServicer) -> None:
        pb_grpc.add_WitnessServicer_to_server(servicer, self._server)
        self._services.append(pb.DESCRIPTOR.services_by_name["Witness"].full_name)

    def add_authority(self, servicer: AuthorityServicer) -> None:
        pb_grpc.add_AuthorityServicer_to_server(servicer, self._server)
        self._services.append(pb.DESCRIPTOR.services_by_name["Authority"].full_name)

    async def start(self) -> int:
        reflection.enable_server_reflection(self._services, self._server)
        if self._tls is None:
            log.warning("gRPC listening WITHOUT TLS on %s (--insecure-dev): development only",
                        self._listen)
            self.port = self._server.add_insecure_port(self._listen)
        else:
            credentials = grpc.ssl_server_credentials([(self._tls.key_pem, self._tls.cert_pem)])
            self.port = self._server.add_secure_port(self._listen, credentials)
        if not self.port:
            raise OSError(f"cannot listen on {self._listen}")
        await self._server.start()
        for name in self._services + [""]:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self.port

    async def stop(self, grace: float) -> None:
        log.info("gRPC server on %s (port %d) stopping: NOT_SERVING, %.1f s for calls in "
                 "flight", self._listen, self.port, grace,
                 extra=fields(server="grpc", listen=self._listen, port=self.port))
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)
