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
import json
import logging
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from trust.tls import certificate_fingerprint

from ..errors import PeerDeadlineExceeded, PeerError, PeerRejected, PeerUnavailable
from ..service.call_notes import CallRecord
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
from .access import MADE, CallObserver, entities_in
from .status import KNOWN_SIZE_KEY, peer_error, reason_of

log = logging.getLogger("renkei.federation.client")
TokenSource = Callable[[str, str], str]  # (audience, agreement id) -> bearer token
# grpc.aio.ClientInterceptor (grpc ships no type stubs: Any to mypy).
ClientInterceptor: TypeAlias = Any

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


CONNECT_TIMEOUT = 5.0


IDLE_SECONDS = 120.0


def channel_options(max_message_bytes: int, idle_seconds: float = IDLE_SECONDS
                    ) -> list[tuple[str, Any]]:
    """Options of every channel; after ``idle_seconds`` without a call the channel drops its
    connection (an agency asking 1,741 cities must not hold 1,741 connections for good)."""
    return [
        ("grpc.client_idle_timeout_ms", int(idle_seconds * 1000)),
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


_FETCH_CONTEXT: ssl.SSLContext | None = None


def _fetch_context() -> ssl.SSLContext:
    """The one client context of every certificate fetch: building one costs ~0.5 ms, which
    an agency meeting 1,741 cities for the first time paid once per city."""
    global _FETCH_CONTEXT
    if _FETCH_CONTEXT is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no CA store: nothing to verify
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # pinned by fingerprint by the caller, not a CA
        context.set_alpn_protocols(["h2"])
        _FETCH_CONTEXT = context
    return _FETCH_CONTEXT


async def fetch_certificate(host: str, port: int, timeout: float) -> bytes:
    """The DER certificate a TLS server presents (not verified here: the caller pins it).

    Asynchronous and bounded by ``timeout``, so that a peer that accepts connections but never
    answers (a stopped process) cannot hold a fan-out past its deadline or tie up a thread.
    """
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, port,
                                                               ssl=_fetch_context()),
                                       timeout)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der: bytes | None = (ssl_object.getpeercert(binary_form=True)
                             if ssl_object is not None else None)
    finally:
        # Abort rather than close: a polite TLS shutdown would wait for the peer's reply.
        writer.transport.abort()
    if not der:
        raise OSError("the server presented no certificate")
    return der


async def open_channel(address: PeerAddress, max_message_bytes: int,
                       timeout: float = 5.0, idle_seconds: float = IDLE_SECONDS,
                       interceptors: Sequence[ClientInterceptor] = ()) -> grpc.aio.Channel:
    """A channel to ``address``; TLS pinned to the directory's fingerprints unless insecure.

    The peer's certificate is fetched first and must be one the signed directory lists; the
    channel then trusts exactly that certificate (nodes use self-signed certificates, so there
    is no CA to trust instead).
    """
    options = channel_options(max_message_bytes, idle_seconds)
    if address.insecure:
        log.warning("peer[%s] PLAINTEXT channel to %s (--insecure-dev): tokens and data travel "
                    "unencrypted; never use this outside a development machine",
                    address.member_id, address.endpoint)
        return grpc.aio.insecure_channel(address.endpoint, options=options,
                                         interceptors=list(interceptors) or None)
    host, _, port = address.endpoint.rpartition(":")
    try:
        der = await fetch_certificate(host.strip("[]"), int(port), timeout)
    except TimeoutError as exc:
        # Connected but no TLS handshake in time: a stopped or overloaded peer.
        raise PeerDeadlineExceeded(address.member_id,
                                   f"no TLS handshake from {address.endpoint} within "
                                   f"{timeout:.1f}s") from exc
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise PeerUnavailable(address.member_id, f"cannot reach {address.endpoint}: "
                              f"{exc or type(exc).__name__}") from exc
    fingerprint = certificate_fingerprint(der)
    if fingerprint not in address.tls_fingerprints:
        log.warning("peer[%s] presented certificate %s, which the signed directory does not "
                    "list: refused", address.member_id, fingerprint)
        # Our refusal, not the peer's: reported as an error, never as the peer's denial.
        raise PeerRejected(address.member_id,
                           "TLS certificate fingerprint is not in the signed directory",
                           reason="tls_fingerprint_mismatch", status="FAILED_PRECONDITION")
    pem = ssl.DER_cert_to_PEM_cert(der).encode()
    credentials = grpc.ssl_channel_credentials(root_certificates=pem)
    options.append(("grpc.ssl_target_name_override", address.member_id))
    return grpc.aio.secure_channel(address.endpoint, credentials, options=options,
                                   interceptors=list(interceptors) or None)


class PeerChannel:
    """The federation API of one peer, as seen from this node."""

    def __init__(self, address: PeerAddress, tokens: TokenSource, max_message_bytes: int,
                 observer: CallObserver | None = None,
                 idle_seconds: float = IDLE_SECONDS,
                 interceptors: Sequence[ClientInterceptor] = ()) -> None:
        self.address = address
        self._interceptors = tuple(interceptors)
        self.peer = address.member_id
        self._tokens = tokens
        self._max = max_message_bytes
        self._observer = observer
        self._idle = idle_seconds
        self._channel: grpc.aio.Channel | None = None
        self._stubs: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    async def _open(self, timeout: float | None) -> grpc.aio.Channel:
        """The channel, opened (and pinned) on first use within ``timeout``."""
        async with self._lock:
            if self._channel is None:
                self._channel = await open_channel(self.address, self._max,
                                                   min(timeout or CONNECT_TIMEOUT,
                                                       CONNECT_TIMEOUT), self._idle,
                                                   self._interceptors)
                self._stubs = {}
            return self._channel

    async def _stub(self, timeout: float | None = None, service: str = "Federation") -> Any:
        channel = await self._open(timeout)
        # One stub per channel and service: building one makes a callable per method.
        current = self._channel is channel  # not reset since: the cache is this channel's
        stub = self._stubs.get(service) if current else None
        if stub is None:
            stub = getattr(pb_grpc, f"{service}Stub")(channel)
            if current:
                self._stubs[service] = stub
        return stub

    async def serving(self, timeout: float) -> bool:
        """Whether the peer's gRPC health service answers SERVING within ``timeout`` (a
        public call: no token is spent). Never raises: any failure is "not serving"."""
        try:
            channel = await self._open(timeout)
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            if _certificate_changed(exc):
                await self._reset()  # check the certificate again on the next probe
            return False
        except PeerError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def _metadata(self, agreement_id: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", "Bearer " + self._tokens(self.peer, agreement_id)),)

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close()

    async def _reset(self) -> None:
        """Forget the pinned channel: the next call fetches and checks the certificate again."""
        async with self._lock:
            channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    def _record(self, method: str, agreement_id: str, started: float, entities: int,
                size: int, error: BaseException | None) -> None:
        """The access line and metrics of one call made (whatever its outcome)."""
        if self._observer is None:
            return
        if error is None:
            status, reason = "OK", ""
        elif isinstance(error, PeerRejected):
            status, reason = error.status, error.reason
        elif isinstance(error, PeerDeadlineExceeded):
            status, reason = "DEADLINE_EXCEEDED", error.code
        elif isinstance(error, PeerError):
            status, reason = "UNAVAILABLE", error.code
        elif isinstance(error, asyncio.CancelledError | GeneratorExit):
            status, reason = "CANCELLED", ""  # this node stopped reading (deadline, enough)
        else:
            status, reason = "UNKNOWN", type(error).__name__
        self._observer.record(CallRecord(MADE, method, self.peer, agreement_id, status, reason,
                                         entities, size, time.perf_counter() - started))

    async def _unary(self, method: str, request: Any, timeout: float, agreement_id: str,
                     service: str = "Federation") -> Any:
        started = time.perf_counter()
        try:
            reply = await self._unary_call(method, request, timeout, agreement_id, service)
        except BaseException as exc:
            self._record(method, agreement_id, started, 0, 0, exc)
            raise
        self._record(method, agreement_id, started, entities_in(reply), reply.ByteSize(), None)
        return reply

    async def _unary_call(self, method: str, request: Any, timeout: float, agreement_id: str,
                          service: str) -> Any:
        for attempt in (1, 2):
            stub = await self._stub(timeout, service)
            try:
                return await getattr(stub, method)(request, timeout=timeout,
                                                   metadata=self._metadata(agreement_id))
            except grpc.RpcError as exc:
                if attempt == 1 and _certificate_changed(exc):
                    await self._reset()
                    continue
                raise peer_error(self.peer, exc) from exc
        raise AssertionError("unreachable")

    async def _stream(self, method: str, request: Any, timeout: float | None,
                      agreement_id: str) -> AsyncIterator[Any]:
        started = time.perf_counter()
        entities = size = 0
        try:
            async for item in self._stream_call(method, request, timeout, agreement_id):
                entities += entities_in(item)
                size += item.ByteSize()
                yield item
        except BaseException as exc:
            self._record(method, agreement_id, started, entities, size, exc)
            raise
        self._record(method, agreement_id, started, entities, size, None)

    async def _stream_call(self, method: str, request: Any, timeout: float | None,
                           agreement_id: str) -> AsyncIterator[Any]:
        for attempt in (1, 2):
            stub = await self._stub(timeout)
            call = getattr(stub, method)(request, timeout=timeout,
                                         metadata=self._metadata(agreement_id))
            received = False
            try:
                async for item in call:
                    received = True
                    yield item
                return
            except grpc.RpcError as exc:
                if attempt == 1 and not received and _certificate_changed(exc):
                    await self._reset()
                    continue
                raise peer_error(self.peer, exc) from exc
            finally:
                call.cancel()

    async def query(self, request: FederatedQuery, timeout: float
                    ) -> AsyncIterator[EntityBatch | QuerySummary]:
        async for item in self._stream("Query", codec.query_to_pb(request), timeout,
                                       request.agreement_id):
            if item.HasField("batch"):
                yield EntityBatch(tuple(item.batch.entities))
            else:
                s = item.summary
                yield QuerySummary(s.count, s.next_page_token, s.receipt.jws)

    async def temporal_query(self, request: TemporalQuery, timeout: float
                             ) -> AsyncIterator[EntityBatch | QuerySummary]:
        """Batches of temporal entities (wire JSON), then the summary, as ``query``."""
        async for item in self._stream("TemporalQuery", codec.temporal_to_pb(request),
                                       timeout, request.agreement_id):
            if item.HasField("batch"):
                yield EntityBatch(tuple(item.batch.entities))
            else:
                s = item.summary
                yield QuerySummary(s.count, s.next_page_token, s.receipt.jws)

    async def get_entity(self, request: GetRequest, timeout: float) -> EntityResult:
        reply = await self._unary("GetEntity", codec.get_to_pb(request), timeout,
                                  request.agreement_id)
        return EntityResult(reply.entity, reply.receipt.jws)

    async def aggregate(self, request: AggregateQuery, timeout: float) -> AggregateResult:
        reply = await self._unary("Aggregate", codec.aggregate_to_pb(request), timeout,
                                  request.agreement_id)
        return codec.aggregate_result_from_pb(reply)

    async def catalog(self, purpose: str, timeout: float) -> Catalog:
        reply = await self._unary("Catalog", pb.CatalogRequest(purpose=purpose), timeout, "")
        return codec.catalog_from_pb(reply)

    async def subscribe(self, request: SubscribeRequest,
                        timeout: float | None = None) -> AsyncGenerator[ChangeEvent, None]:
        """Changes after ``request.after_cursor`` until the stream ends or fails."""
        async for item in self._stream("Subscribe", codec.subscribe_to_pb(request), timeout,
                                       request.agreement_id):
            yield codec.change_from_pb(item)

    async def propose_agreement(self, message: AgreementMessage,
                                timeout: float) -> AgreementMessage:
        reply = await self._unary("ProposeAgreement", codec.agreement_to_pb(message), timeout,
                                  "")
        return codec.agreement_from_pb(reply)

    async def countersign_agreement(self, message: AgreementMessage,
                                    timeout: float) -> AgreementMessage:
        reply = await self._unary("CountersignAgreement", codec.agreement_to_pb(message),
                                  timeout, "")
        return codec.agreement_from_pb(reply)

    async def revoke_agreement(self, agreement_id: str, reason: str, revocation_jws: str,
                               timeout: float) -> AgreementMessage:
        request = pb.RevokeAgreementRequest(agreement_id=agreement_id, reason=reason,
                                            revocation_jws=revocation_jws)
        reply = await self._unary("RevokeAgreement", request, timeout, agreement_id)
        return codec.agreement_from_pb(reply)

    # -- Witness: this node's checkpoints to the peer, and the peer's proofs -----------------
    async def add_checkpoint(self, body: bytes, timeout: float) -> tuple[str, str, int | None]:
        """Submit an add-checkpoint body: (cosignature lines, witness key statement, None), or
        ("", "", the witness's size) when it refused with ``size_conflict``."""
        try:
            reply = await self._unary("AddCheckpoint", pb.AddCheckpointRequest(body=body),
                                      timeout, "", "Witness")
        except PeerRejected as exc:
            cause = exc.__cause__
            known = reason_of(cause, KNOWN_SIZE_KEY) if isinstance(cause, grpc.RpcError) else ""
            if exc.reason == "size_conflict" and known.isdigit():
                return "", "", int(known)
            raise
        return reply.cosignatures.decode("utf-8", errors="replace"), reply.witness_key, None

    async def list_cosigned(self, origin: str, min_size: int, timeout: float
                            ) -> tuple[list[str], str, bool]:
        reply = await self._unary("ListCosigned", pb.ListCosignedRequest(
            origin=origin, min_size=min_size), timeout, "", "Witness")
        return ([c.decode("utf-8", errors="replace") for c in reply.checkpoints],
                reply.witness_key, reply.more)

    async def consistency_proof(self, old_size: int, new_size: int, timeout: float
                                ) -> tuple[list[bytes], str]:
        reply = await self._unary("GetConsistencyProof", pb.ConsistencyProofRequest(
            old_size=old_size, new_size=new_size), timeout, "", "Witness")
        return list(reply.proof), reply.checkpoint.decode("utf-8", errors="replace")


def _certificate_changed(error: grpc.RpcError) -> bool:
    """The TLS handshake failed against the pinned certificate: the peer now presents another
    one (a rotation the directory lists, or an impostor it does not): check it again."""
    if not hasattr(error, "code") or error.code() is not grpc.StatusCode.UNAVAILABLE:
        return False
    details = (error.details() or "").lower()
    return "handshake" in details or "certificate_verify_failed" in details


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
