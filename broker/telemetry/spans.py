"""Spans opened by the layers, and what a span may carry.

The layers (fan-out, admission, store reads, ingest) are not handed a tracer: the entry point
of the work (the API middleware, the gRPC server interceptor, an ingest command) activates its
node's tracer in a context variable, and ``span`` opens a child of the current span with it.
With no tracer active (telemetry off, or work outside any entry point) ``span`` does nothing.

Attributes are checked against ``ATTRIBUTES``: identifiers of members, agreements, entity
types, operations and routes, counts and stable reason codes. Anything else is dropped with a
warning, so that a value a caller sent (a q, an id pattern, an attribute's value, a token)
cannot reach a collector by a careless ``set_attribute``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator, Mapping, Sequence

from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, use_span

__all__ = ["ATTRIBUTES", "Span", "SpanKind", "activate", "active_tracer", "allowed", "failed",
           "set_attributes", "span", "start"]

log = logging.getLogger("renkei.telemetry")
Value = str | bool | int | float | Sequence[str]

# Every attribute a Renkei span may carry, and why it is safe to export.
ATTRIBUTES = frozenset({
    # HTTP server spans: the method, the route *template* and the status; never the URL.
    "http.request.method", "http.route", "http.response.status_code",
    # gRPC spans (semantic conventions): the method's name and the status code.
    "rpc.system", "rpc.service", "rpc.method", "rpc.grpc.status_code",
    # Member ids: the directory publishes them.
    "renkei.member", "renkei.peer", "renkei.caller",
    # What a call is about: the operation, agreement id, entity type names, purpose code.
    "renkei.operation", "renkei.agreement", "renkei.types", "renkei.purpose",
    # Outcomes: a decision, a stable reason code, a per-peer status, counts.
    "renkei.decision", "renkei.reason", "renkei.status", "renkei.count", "renkei.peers",
    # Store reads: which path answered (index or store scan) and the backend.
    "renkei.store.source", "renkei.store.backend",
    # Ingest runs: the configured source name and the run's counts.
    "renkei.source", "renkei.read", "renkei.mapped", "renkei.quarantined",
})

_TRACER: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar(
    "renkei_tracer", default=None)
_warned: set[str] = set()


@contextlib.contextmanager
def activate(tracer: Tracer | None) -> Iterator[None]:
    """Make ``tracer`` the one ``span`` uses in this context (None: no spans)."""
    token = _TRACER.set(tracer)
    try:
        yield
    finally:
        _TRACER.reset(token)


def active_tracer() -> Tracer | None:
    return _TRACER.get()


def allowed(attributes: Mapping[str, Value | None]) -> dict[str, Value]:
    """The attributes a span may carry (None values left out); others dropped, warned once."""
    out: dict[str, Value] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if key not in ATTRIBUTES:
            if key not in _warned:
                _warned.add(key)
                log.warning("span attribute %r is not in telemetry.spans.ATTRIBUTES: dropped",
                            key)
            continue
        out[key] = tuple(value) if isinstance(value, list | tuple | frozenset) else value
    return out


def set_attributes(span: Span | None, attributes: Mapping[str, Value | None]) -> None:
    """Add checked attributes to ``span`` (None: no span, nothing to do)."""
    if span is not None and span.is_recording():
        span.set_attributes(allowed(attributes))


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Value | None] | None = None, *,
         kind: SpanKind = SpanKind.INTERNAL, parent: Context | None = None,
         tracer: Tracer | None = None) -> Iterator[Span | None]:
    """A child of the current span (or of ``parent``), current inside the block.

    An exception marks the span as an error with the exception's type only: its message may
    quote what the caller sent, so it is not recorded.
    """
    tracer = tracer or _TRACER.get()
    if tracer is None:
        yield None
        return
    opened = tracer.start_span(name, context=parent, kind=kind,
                               attributes=allowed(attributes or {}))
    with activate(tracer), use_span(opened, end_on_exit=True, record_exception=False,
                                    set_status_on_exception=False):
        try:
            yield opened
        except BaseException as exc:
            failed(opened, type(exc).__name__)
            raise


def start(name: str, attributes: Mapping[str, Value | None] | None = None, *,
          kind: SpanKind = SpanKind.INTERNAL) -> Span | None:
    """A child of the current span that is *not* made current, for work that spans the yields
    of an async generator (the caller ends it); None when no tracer is active."""
    tracer = _TRACER.get()
    if tracer is None:
        return None
    return tracer.start_span(name, kind=kind, attributes=allowed(attributes or {}))


def failed(opened: Span | None, reason: str) -> None:
    """Mark ``opened`` as an error with a stable reason code (never a message)."""
    if opened is not None and opened.is_recording():
        opened.set_status(Status(StatusCode.ERROR))
        opened.set_attributes(allowed({"renkei.reason": reason}))
