"""A node's tracer: an OpenTelemetry provider exporting over OTLP/HTTP, or nothing at all.

Off by default: a node without ``[telemetry] enabled = true`` builds no provider, opens no
span and adds no interceptor. When on, the service name is the member id and the sampler is
``TraceIdRatioBased`` on its own, not ``ParentBased``: whether this node records a trace
depends on the trace id and this node's ratio only, so a caller that sets the sampled flag in
its ``traceparent`` cannot make a provider record (and export) more than its operator chose.
Because the decision is a function of the trace id, nodes with the same ratio agree on which
traces they record, and a federated query is either whole or absent at the collector.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import Tracer

from ..config import TelemetryConfig
from .spans import activate

log = logging.getLogger("renkei.telemetry")
EXPORT_TIMEOUT_SECONDS = 5.0  # one export attempt: a dead collector never holds a stop long


class Telemetry:
    """The tracer of one node (``tracer`` is None when telemetry is off)."""

    def __init__(self, member_id: str, config: TelemetryConfig,
                 exporter: SpanExporter | None = None) -> None:
        self.member_id = member_id
        self.config = config
        self._provider: TracerProvider | None = None
        self.tracer: Tracer | None = None
        if not config.enabled:
            return
        if exporter is None:
            # Imported here: a node with telemetry off never loads the exporter (or requests).
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=config.endpoint,
                                        timeout=EXPORT_TIMEOUT_SECONDS)
        # Resource(...) rather than Resource.create(): the environment's OTEL_RESOURCE_*
        # variables must not rename a member in its own traces.
        self._provider = TracerProvider(
            resource=Resource({"service.name": member_id}),
            sampler=TraceIdRatioBased(config.sampling_ratio))
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self._provider.get_tracer("renkei")
        log.info("node %s: traces to %s (sampling ratio %g)", member_id, config.endpoint,
                 config.sampling_ratio)

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Spans opened inside (by ``spans.span``) are this node's."""
        with activate(self.tracer):
            yield

    def flush(self, timeout_seconds: float = 10.0) -> bool:
        """Export what is buffered now; blocking, so call it off the event loop."""
        if self._provider is None:
            return True
        return bool(self._provider.force_flush(int(timeout_seconds * 1000)))

    def shutdown(self) -> None:
        """Export what is buffered and stop; blocking, so call it off the event loop."""
        if self._provider is not None:
            provider, self._provider = self._provider, None
            self.tracer = None
            provider.shutdown()
