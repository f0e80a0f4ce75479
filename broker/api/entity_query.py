"""The parameters of ``GET /ngsi-ld/v1/entities``, parsed into the service's query objects.

Parsing is memoized per (query string, caller's context): dashboards and suites ask the same
URLs again and again, and type expressions, ``q`` and geo-queries are not free to parse. Only
successful parses are kept (an error raises first), and the results are immutable, so one is
shared by every request with that query string; responses are never cached.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..errors import BadRequest
from ..ngsi.model import is_uri
from ..ngsi.order import parse_order_by
from ..ngsi.q import parse_geo, parse_q
from ..ngsi.query import NgsiQuery
from ..ngsi.render import OutputOptions
from ..service.query import parse_types
from ..service.scopes import parse_scope_query
from .common import (
    Terms,
    api_of,
    flag,
    int_param,
    list_param,
    options_of,
    output_options,
    page_size,
)

MAX_MEMO = 512


def parse_query(request: web.Request, terms: Terms) -> NgsiQuery:
    """The NGSI-LD query parameters of a GET /entities, in stored names."""
    q = request.query
    ids = list_param(request, "id")
    bad = next((i for i in ids if not is_uri(i)), None)
    if bad is not None:
        raise BadRequest(f"id {bad[:64]!r} is not a URI")
    types = parse_types(q["type"], terms.type) if q.get("type") else None
    georel = q.get("georel", "")
    geo = parse_geo(georel, q.get("geometry", ""), q.get("coordinates")) if georel or q.get(
        "geometry") or q.get("coordinates") else None
    attrs = list_param(request, "attrs")
    core = next((a for a in attrs if a in ("id", "type") or a.startswith("@")), None)
    if core is not None:
        # attrs names attributes; id and type are entity members (pick selects those).
        raise BadRequest(f"{core!r} is not an attribute name (use pick for id and type)")
    query = NgsiQuery(
        types=types, ids=ids, id_pattern=q.get("idPattern", ""),
        q=parse_q(q["q"], terms.attr) if q.get("q") else None, geo=geo,
        geoproperty=terms.attr(q.get("geoproperty", "location")),
        attrs=tuple(terms.attr(a) for a in attrs),
        scope_q=parse_scope_query(q["scopeQ"]) if "scopeQ" in q else None,
        limit=page_size(request), offset=int_param(request, "offset", 0),
        count=flag(request, "count") or "count" in options_of(request),
        order_by=parse_order_by(q["orderBy"], terms.attr) if q.get("orderBy") else ())
    if query.limit == 0 and not query.count:
        raise BadRequest("limit=0 is only allowed with count=true")
    if not (types or query.q is not None or geo is not None or query.attrs
            or flag(request, "local")):
        # ETSI GS CIM 009 v1.8.1 5.7.2.4: ids or an id pattern alone do not make a query.
        raise BadRequest("a query needs at least one of type, attrs, q or a geo-query (or "
                         "local=true)")
    return query


@dataclass(frozen=True)
class ParsedQuery:
    """The parameters of a GET /entities, parsed (immutable: shared between requests)."""

    query: NgsiQuery
    output: OutputOptions
    local: bool


def parsed_query(request: web.Request, terms: Terms) -> ParsedQuery:
    """The parsed parameters of this request (memoized, see the module docstring)."""
    memo = api_of(request).parsed_queries
    key = (request.rel_url.raw_query_string, terms.map.key)  # raw: "%26" is not "&"
    hit = memo.get(key)
    if hit is None:
        hit = ParsedQuery(parse_query(request, terms), output_options(request, terms),
                          flag(request, "local"))
        if len(memo) >= MAX_MEMO:
            memo.clear()
        memo[key] = hit
    return hit
