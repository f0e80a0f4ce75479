"""Traces across nodes (OpenTelemetry): one module per concern.

``tracing`` builds a node's tracer (off unless ``[telemetry] enabled``), ``spans`` is how the
layers open spans without being handed the node (the active node's tracer travels in a context
variable set by the entry points), ``http`` and ``rpc`` are those entry points (the NGSI-LD API
middleware, the gRPC server and client interceptors carrying W3C ``traceparent``), and ``logs``
puts the trace id on log records. What a span may carry is listed in ``spans.ATTRIBUTES``:
identifiers, route templates, counts and stable codes, never values, tokens or query text.
"""
