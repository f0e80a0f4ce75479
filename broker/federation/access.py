"""Every gRPC call a node serves and makes, observed once: one access log line and the call
metrics (listeners), with method, peer, agreement, status, reason, entities, bytes, duration.

``CallObserver.record`` is the one place both sides report to: the server side from
``AccessInterceptor`` (outermost, so it also sees calls the token check refused), the client
side from ``PeerChannel``. A record holds ids, codes and counts only: never a token, an
entity or a masked value. A stream is one record when it ends (a Subscribe stream may run for
hours: its line comes when it closes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from ..logs import fields
from ..service.call_notes import AGREEMENT, CallRecord
from .interceptors import CALLER
from .status import ABORTED

log = logging.getLogger("renkei.access")
SERVED, MADE = "served", "made"


Listener = Callable[[CallRecord], None]


class CallObserver:
    """Writes the access line of each call and hands the record to the listeners."""

    def __init__(self, node_id: str = "") -> None:
        self.node_id = node_id  # several nodes may share a process (tests, the demo)
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def record(self, call: CallRecord) -> None:
        if log.isEnabledFor(logging.INFO):
            arrow = "from" if call.side == SERVED else "to"
            reason = f" [{call.reason}]" if call.reason else ""
            log.info("grpc %s %s %s %s: %s%s, %d entities, %d B, %.1f ms", call.side,
                     call.method, arrow, call.peer or "?", call.status, reason, call.entities,
                     call.bytes, call.seconds * 1000,
                     extra=fields(kind="grpc", node=self.node_id, side=call.side,
                                  method=call.method, peer=call.peer,
                                  agreement=call.agreement, status=call.status,
                                  reason=call.reason, entities=call.entities, bytes=call.bytes,
                                  ms=round(call.seconds * 1000, 3)))
        for listener in self._listeners:
            try:
                listener(call)
            except Exception:  # a metrics bug must not fail the call it observes
                log.exception("call listener failed")


def entities_in(message: Any) -> int:
    """Entities a response message carries (by message type; 0 for the rest)."""
    name = type(message).__name__
    if name == "QueryResponse":
        return len(message.batch.entities) if message.HasField("batch") else 0
    if name == "ChangeEvent":
        return 1 if message.entity_id else 0
    if name == "GetEntityResponse":
        return 1 if message.entity else 0
    return 0


def _method(full: str) -> str:
    return full.rpartition("/")[2] or full


class AccessInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc: no stubs
    """Records every call the server answers (put it first: outside the token check)."""

    def __init__(self, observer: CallObserver) -> None:
        self._observer = observer

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = _method(details.method)
        if handler is None or method in ("Check", "Watch", "ServerReflectionInfo"):
            return handler  # health probes and reflection: no access line per probe
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return handler

    def _finish(self, method: str, request: Any, context: grpc.aio.ServicerContext,
                started: float, entities: int, size: int, error: BaseException | None) -> None:
        caller = CALLER.get(None)
        aborted = ABORTED.get()
        if aborted is not None:
            status, reason = aborted
        elif error is None:
            status, reason = "OK", ""
        elif isinstance(error, asyncio.CancelledError):
            status, reason = "CANCELLED", ""  # the caller went away (or the server stops)
        else:
            status, reason = "UNKNOWN", "internal"  # what grpc answers an unmapped exception
        # The agreement the request names, else the one the caller's token is bound to.
        agreement = AGREEMENT.get() or str(getattr(request, "agreement_id", "") or "") or \
            (caller.agreement_id or "" if caller is not None else "")
        self._observer.record(CallRecord(
            SERVED, method, caller.member_id if caller is not None else context.peer(),
            agreement, status, reason, entities, size, time.perf_counter() - started))

    def _unary(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            try:
                reply = await behavior(request, context)
            except BaseException as exc:
                self._finish(method, request, context, started, 0, 0, exc)
                raise
            self._finish(method, request, context, started, entities_in(reply),
                         reply.ByteSize() if reply is not None else 0, None)
            return reply

        return call

    def _stream(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        # The federation's streaming methods write each message with context.write (under a
        # stall limit, grpc_server.streaming), so the handler is a coroutine: what it sends
        # is counted on the way through a context that forwards everything else.
        async def call(request: Any, context: grpc.aio.ServicerContext) -> None:
            started = time.perf_counter()
            counted = _CountingContext(context)
            try:
                await behavior(request, counted)
            except BaseException as exc:
                self._finish(method, request, context, started, counted.entities,
                             counted.size, exc)
                raise
            self._finish(method, request, context, started, counted.entities, counted.size,
                         None)

        return call


class _CountingContext:
    """A servicer context that counts the entities and bytes written through it."""

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self._context = context
        self.entities = 0
        self.size = 0

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        self.entities += entities_in(message)
        self.size += message.ByteSize()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)
