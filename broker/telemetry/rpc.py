"""gRPC spans: a server interceptor and a client interceptor carrying ``traceparent``.

The server span of a call is the child of the caller's client span (its ``traceparent``
metadata), named by the full method (``renkei.federation.v1.Federation/Query``); everything
the call does on this node (the policy decision, the store read) nests below it because the
interceptor activates this node's tracer for the call. The client interceptor opens a client
span per outgoing call and sends its ``traceparent``. Neither records metadata values (the
``authorization`` token travels beside ``traceparent``), request fields or status details.
Health checks and reflection are not traced: the backoff probes them every second.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from .propagation import TRACEPARENT, parent_context, traceparent_of
from .spans import allowed, set_attributes, span
from .tracing import Telemetry

UNTRACED = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _method_attributes(method: str) -> dict[str, Any]:
    service, _, name = method.lstrip("/").partition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


def _metadata_value(metadata: Any, key: str) -> str | None:
    for item_key, value in metadata or ():
        if item_key == key and isinstance(value, str):
            return value
    return None


class TracingServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # no stubs
    """One server span per call, child of the caller's ``traceparent``; put it first."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(UNTRACED):
            return handler
        method = details.method
        traceparent = _metadata_value(details.invocation_metadata, TRACEPARENT)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method, traceparent),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.unary_stream:
            # A streaming handler is either an async generator or a coroutine that writes
            # with context.write (the federation's, under a stall limit): wrap it as it is.
            behavior = handler.unary_stream
            wrap = self._stream if inspect.isasyncgenfunction(behavior) else self._unary
            return grpc.unary_stream_rpc_method_handler(
                wrap(behavior, method, traceparent),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return handler  # the federation API has no client-streaming methods

    def _span(self, method: str, traceparent: str | None) -> Any:
        return span(method.lstrip("/"),
                    {**_method_attributes(method), "renkei.member": self._telemetry.member_id},
                    kind=SpanKind.SERVER, tracer=self._telemetry.tracer,
                    parent=parent_context(traceparent))

    def _unary(self, behavior: Callable[..., Any], method: str,
               traceparent: str | None) -> Callable[..., Any]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with self._span(method, traceparent) as opened:
                try:
                    result = await behavior(request, context)
                except BaseException:
                    _server_status(opened, context, completed=False)
                    raise
                _server_status(opened, context, completed=True)
                return result

        return call

    def _stream(self, behavior: Callable[..., Any], method: str,
                traceparent: str | None) -> Callable[..., Any]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            # The span is current while the handler runs between the stream's messages: the
            # generator runs in this call's own task, so nothing else sees it.
            with self._span(method, traceparent) as opened:
                try:
                    async for item in behavior(request, context):
                        yield item
                except BaseException:
                    _server_status(opened, context, completed=False)
                    raise
                _server_status(opened, context, completed=True)

        return call


def _server_status(opened: Span | None, context: grpc.aio.ServicerContext,
                   completed: bool) -> None:
    """The call's status code on its span: the one set (an abort sets it), else OK for a
    handler that returned and UNKNOWN for one that raised."""
    if opened is None:
        return
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        value = int(code.value[0])
    elif isinstance(code, int):
        value = code
    else:
        value = 0 if completed else grpc.StatusCode.UNKNOWN.value[0]
    set_attributes(opened, {"rpc.grpc.status_code": value})
    if value != 0:
        opened.set_status(Status(StatusCode.ERROR))


def client_interceptors(telemetry: Telemetry, peer: str) -> list[Any]:
    """The interceptors of a channel to ``peer``: unary and server-streaming calls (grpc.aio
    files each interceptor under one kind only, so one object cannot serve both)."""
    return [UnaryTracingInterceptor(telemetry, peer), StreamTracingInterceptor(telemetry, peer)]


class _ClientTracing:
    """A client span per call to ``peer``, its ``traceparent`` in the call's metadata.

    The span is a child of the current span (the fan-out's span for this peer): grpc.aio runs
    interceptors in a task copied from the caller's context. It ends when the call is done,
    with the call's status code.
    """

    def __init__(self, telemetry: Telemetry, peer: str) -> None:
        self._telemetry = telemetry
        self._peer = peer
        self._finishing: set[asyncio.Task[None]] = set()

    async def _intercept(self, continuation: Any, details: Any, request: Any) -> Any:
        method = details.method.decode() if isinstance(details.method, bytes) \
            else str(details.method)
        tracer = self._telemetry.tracer
        if tracer is None or method.startswith(UNTRACED):
            return await continuation(details, request)
        opened = tracer.start_span(method.lstrip("/"), kind=SpanKind.CLIENT, attributes=allowed(
            {**_method_attributes(method), "renkei.peer": self._peer}))
        metadata = list(details.metadata or ())
        traceparent = traceparent_of(opened)
        if traceparent:
            metadata.append((TRACEPARENT, traceparent))
        try:
            call = await continuation(grpc.aio.ClientCallDetails(
                details.method, details.timeout, grpc.aio.Metadata(*metadata),
                details.credentials, details.wait_for_ready), request)
        except BaseException:
            opened.set_status(Status(StatusCode.ERROR))
            opened.end()
            raise
        call.add_done_callback(lambda done: self._finish(opened, done))
        return call

    def _finish(self, opened: Span, call: Any) -> None:
        # The status of a finished aio call is read with an await: a short task ends the span.
        async def finish() -> None:
            try:
                code = await call.code()
                set_attributes(opened, {"rpc.grpc.status_code": code.value[0]})
                if code is not grpc.StatusCode.OK:
                    opened.set_status(Status(StatusCode.ERROR))
            finally:
                opened.end()

        try:
            task = asyncio.get_running_loop().create_task(finish())
        except RuntimeError:  # no loop any more (the process is ending): end it as it is
            opened.end()
            return
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)


class UnaryTracingInterceptor(_ClientTracing,
                              grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await self._intercept(continuation, details, request)


class StreamTracingInterceptor(_ClientTracing,
                               grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(self, continuation: Any, details: Any,
                                     request: Any) -> Any:
        return await self._intercept(continuation, details, request)
