"""The NGSI-LD API's server spans: one per request, named by method and route template.

The span's name and attributes are the method, the route template (``/ngsi-ld/v1/entities/
{entityId}``: never the path as sent, which holds ids, nor the query string, which holds q
and geo values) and the status. A ``traceparent`` from the client makes the span its child;
``tracestate`` is not carried on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from opentelemetry.trace import SpanKind, Status, StatusCode

from .propagation import TRACEPARENT, parent_context
from .spans import set_attributes, span
from .tracing import Telemetry

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def tracing_middlewares(telemetry: Telemetry | None) -> list[Middleware]:
    """``[tracing]`` to put before the API's other middlewares, or ``[]`` when off."""
    if telemetry is None or not telemetry.enabled:
        return []

    @web.middleware
    async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
        tracer = telemetry.tracer
        route = route_template(request)
        with span(f"{request.method} {route}",
                  {"http.request.method": request.method, "http.route": route,
                   "renkei.member": telemetry.member_id},
                  kind=SpanKind.SERVER, tracer=tracer,
                  parent=parent_context(request.headers.get(TRACEPARENT))) as opened:
            response = await handler(request)
            set_attributes(opened, {"http.response.status_code": response.status})
            if opened is not None and response.status >= 500:
                opened.set_status(Status(StatusCode.ERROR))
            return response

    return [traced]
