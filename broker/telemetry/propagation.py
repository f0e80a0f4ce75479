"""W3C Trace Context in and out: ``traceparent`` only.

Inbound, a ``traceparent`` names the remote parent of this node's span and nothing more (the
sampler does not read its flags: see ``tracing``). ``tracestate`` is neither read nor sent:
it is free text a caller could fill, and nothing here needs it.
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.trace import Span, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()


def parent_context(traceparent: str | None) -> Context:
    """The remote parent a ``traceparent`` names (an empty context when none or malformed)."""
    if not traceparent:
        return Context()
    return _PROPAGATOR.extract({TRACEPARENT: traceparent}, context=Context())


def traceparent_of(span: Span) -> str | None:
    """The ``traceparent`` that makes the receiver's span a child of ``span``."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=set_span_in_context(span, Context()))
    return carrier.get(TRACEPARENT)
