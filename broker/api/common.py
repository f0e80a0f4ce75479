"""What every route needs: the node's API objects, the caller, bodies under limits, params."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web

from trust.clock import Clock

from ..config import HttpConfig
from ..errors import BadRequest
from ..ngsi.discovery import Discovery
from ..ngsi.egress import EgressPolicy
from ..ngsi.entities import EntityService
from ..ngsi.join import join_of
from ..ngsi.model import is_uri
from ..ngsi.projection import projection_of
from ..ngsi.reads import EntityReads
from ..ngsi.render import FORMATS, OutputOptions
from ..ngsi.scope import FederationScope
from ..ngsi.subscriptions import SubscriptionStore
from ..ngsi.temporal import TemporalReads
from ..ngsi.temporal_federation import FederatedHistory
from ..ngsi.temporal_writes import TemporalWrites
from ..ngsi.terms import TermMap, TermMaps, Translator
from ..service.loops import Loops
from ..service.sources import SourceBoard
from ..store.base import Store
from .auth import Caller, ClientRegistry, TokenService
from .errors import BodyTimeout, InvalidRequest, PayloadTooLarge, TooManyResults
from .metrics import ApiMetrics
from .negotiation import body_context, body_media_type, link_context
from .notifier import Notifier

OPTIONS = frozenset({"keyValues", "sysAttrs", "concise", "normalized", "simplified",
                     "noOverwrite", "replace", "update", "count"})


@dataclass
class Api:
    """The objects routes call, built once per node by the app factory."""

    node_id: str
    clock: Clock
    directory_version: Callable[[], int]
    config: HttpConfig
    store: Store
    terms: TermMaps
    entities: EntityService
    tokens: TokenService
    clients: ClientRegistry
    metrics: ApiMetrics
    scope: FederationScope
    reads: EntityReads
    subscriptions: SubscriptionStore
    notifier: Notifier
    discovery: Discovery
    egress: EgressPolicy
    loops: Loops
    sources: SourceBoard
    temporal: TemporalReads
    temporal_writes: TemporalWrites
    history: FederatedHistory  # temporal queries, local or across the federation
    terms_cache: dict[str, Terms] = field(default_factory=dict)  # by context key
    terms_by_url: dict[str | None, Terms] = field(default_factory=dict)  # by context URL
    parsed_queries: dict[tuple[str, str], Any] = field(default_factory=dict)


API = web.AppKey("renkei_api", Api)
CALLER = web.RequestKey("renkei_caller", Caller | None)  # type: ignore[arg-type]


def api_of(request: web.Request) -> Api:
    return request.app[API]


def caller_of(request: web.Request) -> Caller:
    caller = request[CALLER]
    if caller is None:  # open paths never reach a route that asks
        raise RuntimeError("no authenticated caller on this request")
    return caller


# -- resource paths ---------------------------------------------------------------------------

# RFC 3986 pchar: what may stay unescaped in one path segment. Keeping ":" leaves URN ids as
# they are (clients compare Location with "/ngsi-ld/v1/entities/" + id); "/", "?", "#" and
# spaces are escaped.
_PCHAR_SAFE = ":@!$&'()*+,;="


def resource_location(base: str, resource_id: str) -> str:
    """The Location of a created resource: ``base/<id>`` with the id as one path segment."""
    return f"{base}/{quote(resource_id, safe=_PCHAR_SAFE)}"


def path_id(request: web.Request, key: str) -> str:
    """An entity or subscription id from the path; not a URI is BadRequestData (not 404)."""
    value = request.match_info[key]
    if not is_uri(value):
        raise BadRequest(f"{value[:64]!r} is not a URI")
    return value


# -- bodies -----------------------------------------------------------------------------------

async def read_json(request: web.Request, *, allow_merge_patch: bool = False
                    ) -> tuple[Any, str, Any]:
    """(body, media type, @context) of a JSON request body, under the size and depth limits."""
    config = api_of(request).config
    media = body_media_type(request, allow_merge_patch=allow_merge_patch)
    if request.content_length is not None and request.content_length > config.max_body_bytes:
        raise PayloadTooLarge(f"request body larger than {config.max_body_bytes} bytes")
    chunks = []
    size = 0
    try:
        # A body trickled byte by byte must not hold the handler (and the connection) open.
        async with asyncio.timeout(config.body_timeout_seconds):
            async for chunk in request.content.iter_chunked(65536):
                size += len(chunk)
                if size > config.max_body_bytes:
                    raise PayloadTooLarge(
                        f"request body larger than {config.max_body_bytes} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(f"request body not received within {config.body_timeout_seconds:g} "
                          "s") from None
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidRequest("the request needs a JSON body")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from None
    check_depth(body, config.max_json_depth)
    return body, media, body_context(media, body, link_context(request))


def check_depth(value: Any, max_depth: int) -> None:
    """Refuse documents nested deeper than ``max_depth`` (iteratively: no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise InvalidRequest(f"JSON nested deeper than {max_depth} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))


# -- terms ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Terms:
    """The caller's context and the two directions of translation against stored names."""

    context: Any
    map: TermMap
    inward: Translator  # caller's names -> stored names
    outward: Translator  # stored names -> caller's names

    def attr(self, name: str) -> str:
        return self.inward.attr_name(name)

    def type(self, name: str) -> str:
        return self.inward.type_name(name)


async def terms_for(request: web.Request, context: Any) -> Terms:
    """The caller's terms. A context given as one URL (a Link header) or none at all is
    looked up by that value, so the common request costs one dict look-up."""
    api = api_of(request)
    by_value = context is None or isinstance(context, str)
    if by_value:
        hit = api.terms_by_url.get(context)
        if hit is not None:
            return hit
    term_map = await api.terms.get(context)
    cached = api.terms_cache.get(term_map.key)
    if cached is None or cached.context != context:
        cached = Terms(context, term_map, Translator(term_map, api.terms.default),
                       Translator(api.terms.default, term_map))
        if len(api.terms_cache) > 256:
            api.terms_cache.clear()
        api.terms_cache[term_map.key] = cached
    if by_value:
        if len(api.terms_by_url) > 256:  # only URLs the loader knows get here; stay bounded
            api.terms_by_url.clear()
        api.terms_by_url[context] = cached
    return cached


# -- query parameters -------------------------------------------------------------------------
# A malformed parameter value is BadRequestData (input that does not meet the operation's
# requirements, as for q and geo-queries); InvalidRequest is kept for bodies that are not JSON.

# Above this an offset or limit means nothing, and a database integer would overflow (500).
MAX_INT_PARAM = 2**31 - 1


def int_param(request: web.Request, name: str, default: int, *, minimum: int = 0) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if len(raw) > 12:
        raise BadRequest(f"{name} must be an integer <= {MAX_INT_PARAM}")
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if value < minimum:
        raise BadRequest(f"{name} must be >= {minimum}")
    if value > MAX_INT_PARAM:
        raise BadRequest(f"{name} must be an integer <= {MAX_INT_PARAM}")
    return value


# Names or ids in one list parameter (attrs, pick, omit, id, options) or Query body member.
MAX_LIST_ITEMS = 1000


def list_param(request: web.Request, name: str) -> tuple[str, ...]:
    raw = request.query.getall(name, [])
    items = tuple(x.strip() for r in raw for x in r.split(",") if x.strip())
    if len(items) > MAX_LIST_ITEMS:
        raise BadRequest(f"{name} lists more than {MAX_LIST_ITEMS} items")
    return items


def options_of(request: web.Request) -> frozenset[str]:
    options = frozenset(list_param(request, "options"))
    unknown = options - OPTIONS
    if unknown:
        raise InvalidRequest(f"unknown option {sorted(unknown)[0]!r}")
    return options


def page_size(request: web.Request) -> int:
    config = api_of(request).config
    limit = int_param(request, "limit", config.default_page_size)
    if limit > config.max_page_size:
        raise TooManyResults(f"limit {limit} exceeds the maximum page size "
                             f"{config.max_page_size}")
    return limit


def output_options(request: web.Request, terms: Terms) -> OutputOptions:
    options = options_of(request)
    fmt = request.query.get("format", "")
    if fmt and fmt not in FORMATS + ("keyValues",):
        raise InvalidRequest(f"unknown format {fmt[:32]!r}")
    if fmt == "keyValues" or "keyValues" in options or "simplified" in options:
        fmt = "simplified"
    elif "concise" in options:
        fmt = fmt or "concise"
    projection = projection_of(list_param(request, "attrs"), _one(request, "pick"),
                               _one(request, "omit"), terms.attr)
    geoproperty = request.query.get("geoproperty", "location")
    join = join_of(_one(request, "join"), _one(request, "joinLevel"),
                   list_param(request, "containedBy"))
    datasets = list_param(request, "datasetId")
    bad = next((d for d in datasets if d != "@none" and not is_uri(d)), None)
    if bad is not None:
        raise BadRequest(f"datasetId {bad[:64]!r} is neither a URI nor @none")
    geometry = request.query.get("geometryProperty")
    return OutputOptions(
        format=fmt or "normalized", sys_attrs="sysAttrs" in options, projection=projection,
        lang=request.query.get("lang"),
        geoproperty=terms.attr(geometry or geoproperty), join=join,
        dataset_ids=datasets or None)


def _one(request: web.Request, name: str) -> str | None:
    """A parameter given at most once (its value as sent, or None)."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise BadRequest(f"{name} is given more than once")
    return values[0] if values else None


def page_links(request: web.Request, offset: int, limit: int, more: bool) -> list[str]:
    """``Link`` values of the next and previous pages (6.3.13, RFC 8288 ``rel="next"``/
    ``"prev"``): the same request with another ``offset``, in the form the ETSI suite
    compares byte for byte (``<...&limit=L&offset=O>;rel="next";type="application/ld+json"``,
    the path without a trailing slash)."""
    links = []
    if more and limit:
        links.append(f'<{_with_offset(request, offset + limit, limit)}>;rel="next";'
                     'type="application/ld+json"')
    if offset > 0 and limit:
        links.append(f'<{_with_offset(request, max(0, offset - limit), limit)}>;rel="prev";'
                     'type="application/ld+json"')
    return links


def _with_offset(request: web.Request, offset: int, limit: int) -> str:
    # The raw query string is rebuilt by hand: its other parameters stay byte for byte.
    kept = [p for p in request.rel_url.raw_query_string.split("&")
            if p and not p.startswith(("offset=", "limit="))]
    kept.append(f"limit={limit}&offset={offset}")
    return f"{request.rel_url.raw_path.rstrip('/') or '/'}?{'&'.join(kept)}"


def flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").lower()
    if value not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false")
    return value == "true"


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None
                  ) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(obj), content_type="application/json",
                        headers=dict(headers or {}))
