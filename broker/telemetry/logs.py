"""Trace ids on log records, so that an operator goes from a log line to its trace.

``TraceIdFilter`` sets ``record.trace_id`` (32 hex digits, or "" outside a recorded span) and,
inside a recorded span, adds ``trace_id`` to the record's structured fields, which every log
format (``renkei --log-format text|json|logfmt``, ``broker/logs.py``) writes. ``install`` puts
it on handlers (the CLI's, after ``logs.configure``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from opentelemetry.trace import INVALID_TRACE_ID, format_trace_id, get_current_span

from ..logs import fields, fields_of


class TraceIdFilter(logging.Filter):
    """Adds the current recorded span's trace id to every record it sees (drops none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = get_current_span().get_span_context()
        # Only a sampled trace: an id the collector never received would lead nowhere.
        trace_id = format_trace_id(context.trace_id) \
            if context.trace_id != INVALID_TRACE_ID and context.trace_flags.sampled else ""
        record.trace_id = trace_id
        if trace_id:
            # A new mapping: the one the call passed in extra= may be shared.
            record.__dict__.update(fields(**{**fields_of(record), "trace_id": trace_id}))
        return True


def install(handlers: Iterable[logging.Handler]) -> None:
    """Put the filter on ``handlers`` (once each)."""
    for handler in handlers:
        if not any(isinstance(f, TraceIdFilter) for f in handler.filters):
            handler.addFilter(TraceIdFilter())
