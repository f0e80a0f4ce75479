"""The aiohttp application of a node: one edge middleware, then thin routes.

The edge middleware authenticates (bearer token, or the loopback dev mode), checks the scope
an operation needs, turns every exception into ProblemDetails (``problems.py``) and records
request metrics. Every route is registered with and without a trailing slash, because real
NGSI-LD clients send both (ngsildclient POSTs to ``/entities/``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from mappings.contexts import FrozenDocumentLoader

from ..errors import BadRequest, NotFound, Unauthenticated
from ..logs import fields
from ..ngsi.discovery import Discovery
from ..ngsi.egress import EgressPolicy
from ..ngsi.entities import EntityService
from ..ngsi.reads import EntityReads
from ..ngsi.scope import FederationScope
from ..ngsi.subscriptions import SubscriptionStore
from ..ngsi.temporal import TemporalReads
from ..ngsi.temporal_federation import FederatedHistory
from ..ngsi.temporal_writes import TemporalWrites
from ..ngsi.terms import TermMaps
from ..telemetry.http import tracing_middlewares
from .auth import DEV_CLIENT, Caller, ClientRegistry, TokenService
from .common import API, CALLER, Api
from .deps import ApiDeps
from .errors import (
    InsufficientScope,
    InvalidToken,
    MethodNotAllowed,
    PayloadTooLarge,
    RequestTimeLimit,
)
from .metrics import ApiMetrics
from .notifier import Notifier
from .parameters import check_parameters
from .problems import problem_response
from .routes import (
    batch,
    discovery,
    entities,
    ops,
    registrations,
    subscriptions,
    temporal,
)

log = logging.getLogger("renkei.api")
access_log = logging.getLogger("renkei.access")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPEN_PATHS = frozenset({"/health", "/metrics", ops.TOKEN_PATH})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POSTs that only read.
READ_POSTS = ("/ngsi-ld/v1/entityOperations/query",
              "/ngsi-ld/v1/temporal/entityOperations/query")
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
DEV_HEADER = "Renkei-Dev-Mode"
# Mounted applications (the operator console) guard their own requests: no bearer token, no
# NGSI-LD parameter checks, no ProblemDetails.
MOUNTED_PREFIXES = ("/console",)


async def _authenticate(request: web.Request, api: Api) -> Caller | None:
    path = request.path.rstrip("/") or "/"
    if path in OPEN_PATHS:
        return None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use an Authorization: Bearer token from "
                                  f"{ops.TOKEN_PATH}", code="invalid_token")
        # The client's record, read from the store on every request, not the token alone: a
        # client disabled (on any replica, or by the CLI) loses its live tokens at once, and
        # its agreement bindings apply as they are now.
        current = await api.clients.active(api.tokens.verify(token.strip()))
        if current is None:
            raise InvalidToken("the API client of this token is disabled or removed")
        caller = current
    elif api.config.dev_open_on_loopback and request.remote in LOOPBACK:
        caller = Caller(DEV_CLIENT, None, frozenset({"read", "write"}), dev_open=True)
    elif (api.config.dev_open_read_on_loopback and request.method in READ_METHODS
          and request.remote in LOOPBACK):
        caller = Caller(DEV_CLIENT, None, frozenset({"read"}), dev_open=True)
    else:
        raise Unauthenticated(f"this API needs a bearer token (OAuth2 client credentials at "
                              f"{ops.TOKEN_PATH})")
    needed = "read" if request.method in READ_METHODS or path in READ_POSTS else "write"
    if not caller.can(needed):
        raise InsufficientScope(f"this operation needs the {needed!r} scope")
    return caller


@web.middleware
async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(MOUNTED_PREFIXES):
        path = request.path
        if any(path == p or path.startswith(p + "/") for p in MOUNTED_PREFIXES):
            return await handler(request)
    api = request.app[API]
    started = time.perf_counter()
    caller = None
    reason = ""
    # One time limit for the whole request (token check, body, work, federated reads): a
    # request that waits on anything longer ends with 503 and frees its handler.
    limit = asyncio.timeout(api.config.request_timeout_seconds)
    try:
        async with limit:
            caller = await _authenticate(request, api)
            request[CALLER] = caller  # type: ignore[misc]
            check_parameters(request)
            response = await handler(request)
    except TimeoutError as exc:
        error: BaseException = exc
        if limit.expired():
            error = RequestTimeLimit(f"the request took longer than "
                                     f"{api.config.request_timeout_seconds:g} s "
                                     "([http] request_timeout_seconds)")
            reason = RequestTimeLimit.code
        response = problem_response(error, request.path)
    except web.HTTPException as exc:
        response = _http_problem(exc, request)
        reason = {404: "not_found", 405: "method_not_allowed",
                  413: "payload_too_large"}.get(exc.status, "")
    except Exception as exc:
        if isinstance(exc, Unauthenticated | InsufficientScope):
            api.metrics.api_denials.labels(getattr(exc, "code", "denied")).inc()
        response = problem_response(exc, request.path)
        reason = str(getattr(exc, "code", "") or "internal_error")
    if caller is not None and caller.dev_open:
        response.headers[DEV_HEADER] = ("open-on-loopback (no token checked)"
                                        if caller.can("write")
                                        else "open-read-on-loopback (no token checked)")
    route = request.match_info.route.resource
    # The route template (one series per route, with or without its trailing slash).
    label = (route.canonical.rstrip("/") or "/") if route is not None else "unmatched"
    seconds = time.perf_counter() - started
    api.metrics.observe(request.method, label, response.status, seconds)
    if access_log.isEnabledFor(logging.INFO):
        _access_line(request, response, label, caller, reason, seconds)
    return response


def _access_line(request: web.Request, response: web.StreamResponse, route: str,
                 caller: Caller | None, reason: str, seconds: float) -> None:
    """One line per request: who, what, outcome; never the token or a query string (it may
    carry values the caller filters on)."""
    size = response.content_length if response.content_length is not None else \
        response.body_length
    client = caller.client_id if caller is not None else ""
    access_log.info("http %s %s from %s: %d%s, %d B, %.1f ms", request.method, route,
                    client or request.remote or "?", response.status,
                    f" [{reason}]" if reason else "", size, seconds * 1000,
                    extra=fields(kind="http", node=request.app[API].node_id,
                                 method=request.method, route=route,
                                 client=client, remote=request.remote or "",
                                 status=response.status, reason=reason, bytes=size,
                                 ms=round(seconds * 1000, 3),
                                 unanswered=response.headers.getall("NGSILD-Warning", [])))


def _http_problem(exc: web.HTTPException, request: web.Request) -> web.StreamResponse:
    if exc.status == 404 and "//" in request.path.rstrip("/"):
        # /entities//attrs: the id the operation is about is missing, a request the caller
        # can fix (BadRequestData), not a resource that does not exist.
        return problem_response(BadRequest("an empty path segment where an id or a name "
                                           "belongs"), request.path)
    if exc.status == 404:
        return problem_response(NotFound(f"no resource at {request.path[:200]}"), request.path)
    if exc.status == 405 and request.method in ("PATCH", "PUT") \
            and request.path.rstrip("/") == "/ngsi-ld/v1/entities":
        # Merge or replace without an entity id: the caller's request lacks its target.
        return problem_response(BadRequest("the entity id is missing from the path"),
                                request.path)
    if exc.status == 405:
        resp = problem_response(MethodNotAllowed(f"{request.method} is not supported here"),
                                request.path)
        if "Allow" in exc.headers:  # RFC 9110: a 405 names the methods that are allowed
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp
    if exc.status == 413:
        return problem_response(PayloadTooLarge("request body too large"), request.path)
    return exc


def _add_all(app: web.Application, routes: list[tuple[str, str, Handler]]) -> None:
    """Each path (and its trailing-slash twin) is one resource holding all its methods, so
    that resolving a request tries one resource, not one per method."""
    by_path: dict[str, list[tuple[str, Handler]]] = {}
    for method, path, handler in routes:
        by_path.setdefault(path, []).append((method, handler))
    for path, handlers in by_path.items():
        for variant in (path, path + "/"):
            resource = app.router.add_resource(variant)
            for method, handler in handlers:
                resource.add_route(method, handler)


async def build_api(deps: ApiDeps) -> Api:
    """The objects the routes use, built from the node's parts."""
    config = deps.http
    store, clock = deps.store, deps.clock
    terms = TermMaps(FrozenDocumentLoader(extra=dict(deps.contexts)))
    metrics = deps.metrics or ApiMetrics(deps.node_id)
    if deps.watch_calls is not None:
        deps.watch_calls(metrics.grpc_call)
    subs = SubscriptionStore(store, clock)
    egress = EgressPolicy(config.notification_allow)
    notifier = Notifier(deps.node_id, store, clock, deps.changes, deps.federated_changes,
                        subs, metrics, terms, egress)
    scope = FederationScope(deps.federation,
                            on_status=lambda s: metrics.peer_status(s.peer, s.status,
                                                                    s.elapsed_ms))
    entities = EntityService(store, deps.changes, clock, observer=notifier.observe)
    temporal = TemporalReads(store, deps.temporal.max_instances_per_entity)
    return Api(
        node_id=deps.node_id, clock=clock, directory_version=deps.directory_version,
        config=config, store=store, terms=terms, entities=entities,
        tokens=await TokenService.open(deps.node_id, store, clock,
                                       config.token_lifetime_seconds),
        clients=ClientRegistry(store, clock), metrics=metrics, scope=scope,
        reads=EntityReads(store, scope), subscriptions=subs, notifier=notifier,
        discovery=Discovery(store), egress=egress, loops=deps.loops, sources=deps.sources,
        temporal=temporal, temporal_writes=TemporalWrites(store, clock, entities),
        history=FederatedHistory(temporal, scope))


async def create_app(deps: ApiDeps,
                     mounts: Mapping[str, web.Application] | None = None) -> web.Application:
    """The NGSI-LD application over the node's parts (not yet listening), with ``mounts``
    (prefix -> application, e.g. the operator console at ``/console``) beside it."""
    api = await build_api(deps)
    # The body limit is enforced by the routes (413 as ProblemDetails); aiohttp's own limit
    # only stops a client that lies about Content-Length.
    app = web.Application(middlewares=[*tracing_middlewares(deps.telemetry), edge],
                          client_max_size=api.config.max_body_bytes + 1)
    app[API] = api
    # The entity routes first: GET /entities is the hot path.
    _add_all(app, [r for module in (entities, batch, discovery, subscriptions, temporal,
                                  registrations, ops)
                   for r in module.routes()])

    async def start_notifier(app: web.Application) -> None:
        await api.notifier.start()

    async def stop_notifier(app: web.Application) -> None:
        await api.notifier.stop()

    for prefix, sub in (mounts or {}).items():
        assert prefix in MOUNTED_PREFIXES, f"{prefix}: add it to MOUNTED_PREFIXES"
        app.add_subapp(prefix, sub)
    app.on_startup.append(start_notifier)
    app.on_cleanup.append(stop_notifier)
    if api.config.dev_open_on_loopback:
        log.warning("node %s: [http] dev_open_on_loopback is ON: reads AND WRITES from "
                    "127.0.0.1/::1 are served WITHOUT a token. Development and conformance "
                    "runs only.", deps.node_id)
    elif api.config.dev_open_read_on_loopback:
        log.warning("node %s: [http] dev_open_read_on_loopback is ON: GET requests from "
                    "127.0.0.1/::1 are served WITHOUT a token. Never use this outside a demo.",
                    deps.node_id)
    return app
