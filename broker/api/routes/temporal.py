"""``/ngsi-ld/v1/temporal/entities``: the NGSI-LD temporal API (queries also ask the peers
that share history under the reader's agreements, unless ``local=true``).

Thin: each route parses (``temporal_params``), calls ``broker.ngsi.temporal``/
``temporal_writes`` and renders in the caller's names; a cut answer is 206 with the
``Content-Range`` of the time range it covers (6.3.10).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ...errors import BadRequest, NotFound
from ...ngsi import temporal_view as view
from ...ngsi.model import check_name, is_uri
from ...ngsi.scope import warning_headers
from ...ngsi.temporal import TemporalEntity, TimeWindow, query_range
from ...ngsi.temporal_writes import one_instance, temporal_payload
from ..common import (
    Terms,
    api_of,
    caller_of,
    flag,
    int_param,
    page_links,
    path_id,
    read_json,
    resource_location,
    terms_for,
)
from ..negotiation import link_context, render_docs, render_object, response, response_type
from ..temporal_params import TemporalOutput, output, query_of_body, query_of_request, window

BASE = "/ngsi-ld/v1/temporal/entities"
QUERY = "/ngsi-ld/v1/temporal/entityOperations/query"


def _render(entity: TemporalEntity, shape: TemporalOutput, win: TimeWindow,
            terms: Terms) -> dict[str, Any]:
    if shape.form == "temporalValues":
        body = view.temporal_values(entity, win.timeproperty)
    elif shape.form == "aggregatedValues" and shape.aggregation is not None:
        end = win.end_time_at if win.timerel == "between" else (
            win.time_at if win.timerel == "before" else None)
        start = win.time_at if win.timerel in ("after", "between") else None
        body = view.aggregated(entity, shape.aggregation, win.timeproperty, start, end)
    else:
        body = view.normalized(entity, sys_attrs=shape.sys_attrs)
    if shape.pick or shape.omit:
        body = view.project(body, shape.pick, shape.omit)
    return _outward(body, terms)


def _outward(body: dict[str, Any], terms: Terms) -> dict[str, Any]:
    """The caller's names: instance lists translate like entities; the simplified and
    aggregated forms only need their attribute names translated."""
    out = terms.outward.entity({k: v for k, v in body.items() if k in ("id", "type")
                                or isinstance(v, list)})
    for name, value in body.items():
        if isinstance(value, dict):
            out[terms.outward.attr_name(name)] = value
        elif not isinstance(value, list) and name not in ("id", "type"):
            out[name] = value  # scope, createdAt, modifiedAt
    return out


async def retrieve(request: web.Request) -> web.Response:
    api = api_of(request)
    entity_id = path_id(request, "entity_id")
    media = response_type(request.headers.get("Accept"))
    terms = await terms_for(request, link_context(request))
    params = dict(request.query)
    shape = output(params, terms)
    win = window(params, terms)
    entity = await api.temporal.entity(entity_id, win)
    if win.attrs and not entity.instances:
        raise NotFound(f"{entity_id[:256]} has no instances of the attributes asked for")
    body = _render(entity, shape, win, terms)
    if (shape.pick or shape.omit) and not body:
        raise NotFound(f"nothing of {entity_id[:256]} is left after pick/omit")
    headers = {"Content-Range": entity.cut.header()} if entity.cut else None
    return response(render_object(body, media, terms.context), media, terms.context,
                    status=206 if entity.cut else 200, headers=headers)


async def query(request: web.Request) -> web.Response:
    terms = await terms_for(request, link_context(request))
    selection, win, shape = query_of_request(request, terms)
    return await _answer(request, terms, selection, win, shape)


async def query_post(request: web.Request) -> web.Response:
    body, _media, context = await read_json(request)
    terms = await terms_for(request, context)
    selection, win, shape = query_of_body(
        body, terms, limit=int_param(request, "limit", api_of(request).config.default_page_size),
        offset=int_param(request, "offset", 0))
    return await _answer(request, terms, selection, win, shape)


async def _answer(request: web.Request, terms: Terms, selection: Any, win: TimeWindow,
                  shape: TemporalOutput) -> web.Response:
    media = response_type(request.headers.get("Accept"))
    page = await api_of(request).history.query(
        selection, win, audience=caller_of(request).audience, local=flag(request, "local"))
    docs = [orjson.dumps(_render(e, shape, win, terms)) for e in page.entities]
    cut = query_range(page.entities, win)
    headers = {"Content-Range": cut.header()} if cut else {}
    links = page_links(request, selection.offset, selection.limit, page.more)
    resp = response(render_docs(docs, media, terms.context), media, terms.context,
                    status=206 if cut else 200, headers=headers, links=links)
    for value in warning_headers(page.warnings):
        resp.headers.add("NGSILD-Warning", value)
    return resp


async def create(request: web.Request) -> web.Response:
    body, _media, context = await read_json(request)
    terms = await terms_for(request, context)
    payload = terms.inward.entity(temporal_payload(_without_context(body)))
    created = await api_of(request).temporal_writes.create_or_add(payload)
    if not created:
        return web.Response(status=204)
    return web.Response(status=201,
                        headers={"Location": resource_location(BASE, payload["id"])})


async def delete(request: web.Request) -> web.Response:
    await api_of(request).temporal_writes.delete(path_id(request, "entity_id"))
    return web.Response(status=204)


async def add_attributes(request: web.Request) -> web.Response:
    entity_id = path_id(request, "entity_id")
    body, _media, context = await read_json(request)
    terms = await terms_for(request, context)
    raw = _without_context(body)
    if "id" in raw and raw["id"] != entity_id:
        raise BadRequest("the entity id in the body differs from the one in the path")
    fragment = terms.inward.entity(temporal_payload(raw, require_id=False))
    if not any(k not in ("id", "type", "scope") for k in fragment):
        raise BadRequest("the body holds no attribute")
    await api_of(request).temporal_writes.add_attributes(entity_id, fragment)
    return web.Response(status=204)


async def delete_attribute(request: web.Request) -> web.Response:
    terms = await terms_for(request, link_context(request))
    entity_id = path_id(request, "entity_id")
    delete_all = request.query.get("deleteAll", "false")
    if delete_all not in ("true", "false"):
        raise BadRequest("deleteAll must be true or false")
    dataset_id = request.query.get("datasetId")
    if dataset_id is not None and not (dataset_id == "@none" or is_uri(dataset_id)):
        raise BadRequest("datasetId must be a URI")
    await api_of(request).temporal_writes.delete_attribute(
        entity_id, _attr(request, terms),
        dataset_id=None if dataset_id == "@none" else dataset_id,
        delete_all=delete_all == "true")
    return web.Response(status=204)


def _attr(request: web.Request, terms: Terms) -> str:
    name = request.match_info["attr"]
    check_name(name)
    return terms.attr(name)


def _instance_id(request: web.Request) -> str:
    value = request.match_info["instance_id"]
    if not is_uri(value):
        raise BadRequest(f"instance id {value[:64]!r} is not a URI")
    return value


async def delete_instance(request: web.Request) -> web.Response:
    terms = await terms_for(request, link_context(request))
    entity_id = path_id(request, "entity_id")
    await api_of(request).temporal_writes.delete_instance(
        entity_id, _attr(request, terms), _instance_id(request))
    return web.Response(status=204)


async def patch_instance(request: web.Request) -> web.Response:
    entity_id = path_id(request, "entity_id")
    instance_id = _instance_id(request)
    body, _media, context = await read_json(request)
    terms = await terms_for(request, context)
    name = request.match_info["attr"]
    stored = _attr(request, terms)
    instance = one_instance(name, _without_context(body))
    wrapped = terms.inward.entity({"id": "urn:x", "type": "T", name: instance})
    await api_of(request).temporal_writes.replace_instance(
        entity_id, stored, instance_id, wrapped.get(stored, instance))
    return web.Response(status=204)


async def malformed(request: web.Request) -> web.Response:
    """A temporal path with an empty segment (``entities//attrs``): which resource it means
    cannot be told, so it is BadRequestData, except a PATCH naming no attribute or instance,
    which names a resource that has no PATCH (405)."""
    segments = request.match_info["tail"].split("/")
    if request.method == "PATCH" and segments[0] and len(segments) >= 3:
        raise web.HTTPMethodNotAllowed("PATCH", ["DELETE"])
    raise BadRequest("the path has an empty entity id, attribute name or instance id")


def _without_context(body: Any) -> Any:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return {k: v for k, v in body.items() if k != "@context"}


def routes() -> list[tuple[str, str, Any]]:
    entity = BASE + "/{entity_id}"
    attr = entity + "/attrs/{attr}"
    return [
        ("POST", BASE, create),
        ("GET", BASE, query),
        ("POST", QUERY, query_post),
        ("GET", entity, retrieve),
        ("DELETE", entity, delete),
        ("POST", entity + "/attrs", add_attributes),
        ("DELETE", attr, delete_attribute),
        ("DELETE", attr + "/{instance_id}", delete_instance),
        ("PATCH", attr + "/{instance_id}", patch_instance),
        *((method, BASE + "/{tail:.*//.*|/.*}", malformed)
          for method in ("GET", "POST", "DELETE", "PATCH")),
    ]


__all__ = ["routes", "render_object"]
