"""``/ngsi-ld/v1/entityOperations``: batch create, upsert, update, merge, delete and query.

All-or-nothing is not what NGSI-LD batches mean: each entity succeeds or fails on its own, and
a batch with any failure answers 207 with a BatchOperationResult naming each failed entity and
its ProblemDetails.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web

from mappings.errors import MappingError

from ...errors import BadRequest, BrokerError
from ...ngsi.entities import BatchItem, BatchOutcome
from ...ngsi.join import join_of
from ...ngsi.model import is_uri, normalize_entity
from ...ngsi.q import parse_geo, parse_q
from ...ngsi.query import NgsiQuery
from ...ngsi.reads import Shape
from ...ngsi.render import OutputOptions
from ...service.query import parse_types
from ...service.scopes import parse_scope_query
from ..common import (
    MAX_LIST_ITEMS,
    Terms,
    api_of,
    caller_of,
    int_param,
    output_options,
    page_size,
    read_json,
    terms_for,
)
from ..negotiation import LD, link_context, response_type
from ..problems import problem_body
from .entities import entities_response

BASE = "/ngsi-ld/v1/entityOperations"


async def _items(request: web.Request, *, require_type: bool = True,
                 allow_null: bool = False) -> list[BatchItem]:
    body, media, _context = await read_json(request)
    if not isinstance(body, list):
        raise BadRequest("a batch operation takes a JSON array")
    if not body:
        raise BadRequest("a batch operation takes at least one entity")
    link = link_context(request)
    items = []
    for raw in body:
        entity_id = raw.get("id", "") if isinstance(raw, dict) else ""
        try:
            if not isinstance(raw, dict):
                raise BadRequest("each batch entry must be a JSON object")
            if media == LD:
                if "@context" not in raw:
                    raise BadRequest("application/ld+json entries need an @context each")
                context = raw["@context"]
            else:
                if "@context" in raw:
                    raise BadRequest("application/json entries may not carry @context")
                context = link
            terms = await terms_for(request, context)
            plain = {k: v for k, v in raw.items() if k != "@context"}
            entity = terms.inward.entity(normalize_entity(plain, require_type=require_type,
                                                          allow_null=allow_null))
            items.append(BatchItem(str(entity_id), entity))
        except (BrokerError, MappingError) as exc:
            items.append(BatchItem(str(entity_id), error=exc))
    return items


def _result(outcome: BatchOutcome, ok_status: int, ok_body: Any = None) -> web.Response:
    if not outcome.errors:
        if ok_body is None:
            return web.Response(status=ok_status)
        return web.Response(status=ok_status, body=orjson.dumps(ok_body),
                            content_type="application/json")
    errors = []
    for entity_id, exc in outcome.errors:
        _status, problem = problem_body(exc)
        errors.append({"entityId": entity_id, "error": problem})
    return web.Response(status=207, body=orjson.dumps({"success": outcome.success,
                                                       "errors": errors}),
                        content_type="application/json")


async def create(request: web.Request) -> web.Response:
    outcome = await api_of(request).entities.batch_create(await _items(request))
    return _result(outcome, 201, outcome.success)


async def upsert(request: web.Request) -> web.Response:
    options = set(request.query.get("options", "").split(","))
    items = await _items(request)
    outcome = await api_of(request).entities.batch_upsert(items, replace="update" not in options)
    if outcome.created:
        return _result(outcome, 201, outcome.created)
    return _result(outcome, 204)


async def update(request: web.Request) -> web.Response:
    options = set(request.query.get("options", "").split(","))
    items = await _items(request, require_type=False)
    outcome = await api_of(request).entities.batch_update(
        items, no_overwrite="noOverwrite" in options)
    return _result(outcome, 204)


async def merge(request: web.Request) -> web.Response:
    items = await _items(request, require_type=False, allow_null=True)
    outcome = await api_of(request).entities.batch_merge(items)
    return _result(outcome, 204)


async def delete(request: web.Request) -> web.Response:
    body, _media, _context = await read_json(request)
    if not isinstance(body, list):
        raise BadRequest("batch delete takes a JSON array of entity ids")
    if not body:
        raise BadRequest("batch delete takes at least one entity id")
    outcome = await api_of(request).entities.batch_delete(body)
    return _result(outcome, 204)


async def query(request: web.Request) -> web.Response:
    """POST query (local data): the Query body instead of URL parameters."""
    api = api_of(request)
    media = response_type(request.headers.get("Accept"), geo=True)
    body, _media, context = await read_json(request)
    if not isinstance(body, dict) or body.get("type") != "Query":
        raise BadRequest("the body must be a Query object ({\"type\": \"Query\", ...})")
    terms = await terms_for(request, context)
    selectors, geo_q, attrs = _query_members(body)
    types = [s["type"] for s in selectors if "type" in s]
    ids = tuple(s["id"] for s in selectors if "id" in s)
    if any(not is_uri(i) for i in ids):
        raise BadRequest("entity ids must be URIs")
    patterns = [s["idPattern"] for s in selectors if "idPattern" in s]
    geo = None
    if geo_q is not None:
        geo = parse_geo(str(geo_q.get("georel", "")), str(geo_q.get("geometry", "")),
                        geo_q.get("coordinates"))
    q = NgsiQuery(
        types=parse_types(",".join(types), terms.type) if types else None, ids=ids,
        id_pattern=patterns[0] if patterns else "",
        q=parse_q(body["q"], terms.attr) if body.get("q") else None, geo=geo,
        geoproperty=terms.attr(str((geo_q or {}).get("geoproperty", "location"))),
        attrs=tuple(terms.attr(a) for a in attrs),
        scope_q=parse_scope_query(body["scopeQ"]) if "scopeQ" in body else None,
        limit=page_size(request), offset=int_param(request, "offset", 0),
        count=request.query.get("count") == "true")
    output = _body_output(body, output_options(request, terms), terms)
    # A Query body is answered from local data (README: federated reads are GETs).
    page = await api.reads.query(q, output, terms.outward,
                                 audience=caller_of(request).audience, local=True,
                                 shape=Shape(raw=False))
    headers = {"NGSILD-Results-Count": str(page.count)} if page.count is not None else {}
    return entities_response(page.entities or [], media, terms, output, headers, [])


def _body_output(body: dict[str, Any], output: OutputOptions, terms: Terms) -> OutputOptions:
    """The Query body's own join, joinLevel, containedBy and geometryProperty (5.2.23)."""
    for key in ("join", "joinLevel", "geometryProperty"):
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            raise BadRequest(f"{key} must be a string")
    contained = body.get("containedBy") or []
    if not isinstance(contained, list) or not all(isinstance(c, str) for c in contained):
        raise BadRequest("containedBy must be an array of entity ids")
    join = join_of(body.get("join"), str(body["joinLevel"]) if "joinLevel" in body else None,
                   tuple(contained)) if "join" in body else output.join
    geometry = body.get("geometryProperty")
    return replace(output, join=join, geoproperty=terms.attr(geometry) if geometry
                   else output.geoproperty)


def _query_members(body: dict[str, Any]
                   ) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[str]]:
    """The entities selectors, geoQ and attrs of a Query body, their JSON types checked (a
    number where a string belongs is the caller's mistake: 400, not 500)."""
    selectors = body.get("entities") or []
    if not isinstance(selectors, list) or not all(isinstance(s, dict) for s in selectors):
        raise BadRequest("entities must be an array of objects")
    if len(selectors) > MAX_LIST_ITEMS:
        raise BadRequest(f"entities lists more than {MAX_LIST_ITEMS} selectors")
    for s in selectors:
        if any(k in s and not isinstance(s[k], str) for k in ("type", "id", "idPattern")):
            raise BadRequest("entities[].type, id and idPattern must be strings")
    if "q" in body and not isinstance(body["q"], str):
        raise BadRequest("q must be a string")
    geo_q = body.get("geoQ")
    if geo_q is not None and not isinstance(geo_q, dict):
        raise BadRequest("geoQ must be an object")
    if geo_q is not None and not isinstance(geo_q.get("geoproperty", ""), str):
        raise BadRequest("geoQ.geoproperty must be a string")
    attrs = body.get("attrs") or []
    if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
        raise BadRequest("attrs must be an array of attribute names")
    if len(attrs) > MAX_LIST_ITEMS:
        raise BadRequest(f"attrs lists more than {MAX_LIST_ITEMS} names")
    return selectors, geo_q, attrs


def routes() -> list[tuple[str, str, Any]]:
    return [("POST", f"{BASE}/create", create), ("POST", f"{BASE}/upsert", upsert),
            ("POST", f"{BASE}/update", update), ("POST", f"{BASE}/merge", merge),
            ("POST", f"{BASE}/delete", delete), ("POST", f"{BASE}/query", query)]
