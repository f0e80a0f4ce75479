"""Authentication at the edge: every federation call carries a node token, verified once here.

A gRPC interceptor never sees the request message, so it only authenticates; authorization
against an agreement happens in the service layer. The request is decoded only after the
caller is authenticated: an unauthenticated caller gets ``UNAUTHENTICATED`` whatever it sent,
and a malformed message (random bytes, a truncated varint, a length past the end, invalid
UTF-8) from an authenticated one is ``INVALID_ARGUMENT`` ``malformed_request`` with one
WARNING line, never an ``UNKNOWN`` with a traceback. The verified caller is put in a
``ContextVar`` for the handler. The token is bound to the caller's connection (peer address)
for the replay cache, so that a token re-presented on the same channel is a cache hit while a
copy presented from elsewhere is refused as ``replayed``.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from trust.errors import AuthenticationError, DirectoryError
from trust.tokens import TokenVerifier, VerifiedCaller

from ..errors import BadRequest, Unauthenticated
from .status import abort

log = logging.getLogger("renkei.federation.server")
CALLER: contextvars.ContextVar[VerifiedCaller] = contextvars.ContextVar("renkei_caller")
AUTHORIZATION = "authorization"

# Methods any client may call without a node token.
PUBLIC_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
    "/renkei.federation.v1.Authority/",
)


def current_caller() -> VerifiedCaller:
    """The authenticated caller of the current call (set by ``TokenAuthInterceptor``)."""
    return CALLER.get()


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc: no stubs
    """Verifies the ``authorization: Bearer <jwt>`` metadata of every non-public call.

    ``on_caller`` is awaited with each authenticated caller's member id: a valid inbound call
    shows the peer is up, so the node resets that peer's outbound backoff (as Synapse does).
    """

    def __init__(self, verifier: TokenVerifier,
                 on_caller: Callable[[str], Awaitable[None]] | None = None) -> None:
        self._verifier = verifier
        self._on_caller = on_caller

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(PUBLIC_PREFIXES):
            return handler
        token = _bearer(details.invocation_metadata)
        decode = _Decoder(details.method, handler.request_deserializer)
        # No request_deserializer: the handler gets the raw bytes, decoded after authentication.
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, token, decode),
                response_serializer=handler.response_serializer)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, token, decode),
                response_serializer=handler.response_serializer)
        return handler  # the federation API has no client-streaming methods

    async def _authenticate(self, token: str | None,
                            context: grpc.aio.ServicerContext) -> VerifiedCaller:
        if not token:
            raise Unauthenticated("missing bearer token in 'authorization' metadata")
        caller = await self._verifier.verify(token, binding=context.peer())
        if self._on_caller is not None:
            await self._on_caller(caller.member_id)
        return caller

    async def _admit(self, token: str | None, raw: bytes, decode: _Decoder,
                     context: grpc.aio.ServicerContext) -> Any:
        """The decoded request of an authenticated caller (the call is aborted otherwise)."""
        try:
            caller = await self._authenticate(token, context)
        except (AuthenticationError, Unauthenticated) as exc:
            await abort(context, exc)
        except DirectoryError as exc:  # holding no directory yet: no caller can be checked
            await abort(context, exc)  # UNAVAILABLE no_directory: try again later
        CALLER.set(caller)
        try:
            return decode(raw, caller.member_id)
        except BadRequest as exc:
            await abort(context, exc)

    def _unary(self, behavior: Callable[..., Any], token: str | None,
               decode: _Decoder) -> Callable[..., Any]:
        async def call(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            request = await self._admit(token, raw, decode, context)
            return await behavior(request, context)

        return call

    def _stream(self, behavior: Callable[..., Any], token: str | None,
                decode: _Decoder) -> Callable[..., Any]:
        # The federation's streaming servicers write with context.write (each write under a
        # time limit), so the wrapped handler is a coroutine, not a generator.
        async def call(raw: bytes, context: grpc.aio.ServicerContext) -> None:
            request = await self._admit(token, raw, decode, context)
            await behavior(request, context)

        return call


class _Decoder:
    """Decodes one method's request message; a malformed one is ``malformed_request``."""

    __slots__ = ("_method", "_deserialize")

    def __init__(self, method: str, deserialize: Callable[[bytes], Any] | None) -> None:
        self._method = method
        self._deserialize = deserialize

    def __call__(self, raw: bytes, member_id: str) -> Any:
        if self._deserialize is None:
            return raw
        try:
            return self._deserialize(raw)
        except Exception as exc:  # protobuf raises DecodeError, and others on odd input
            log.warning("peer[%s] %s: malformed request message (%d bytes): %s", member_id,
                        self._method, len(raw), type(exc).__name__)
            raise BadRequest("the request message is not a valid protobuf message of this "
                             "method", code="malformed_request") from None


def _bearer(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == AUTHORIZATION and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None
