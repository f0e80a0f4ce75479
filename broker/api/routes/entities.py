"""``/ngsi-ld/v1/entities``: create, query, retrieve, merge, replace, delete, attributes."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from aiohttp import web

from ...errors import BadRequest, NotFound, NotSupported
from ...ngsi import merge as ngsi_merge
from ...ngsi.model import (
    check_name,
    feature,
    is_uri,
    normalize_attribute,
    normalize_entity,
    normalize_partial_attribute,
)
from ...ngsi.q import parse_q
from ...ngsi.reads import Shape
from ...ngsi.render import OutputOptions
from ...ngsi.scope import warning_headers
from ...service.query import Selection, parse_types, scan
from ...service.scopes import parse_scope_query
from ..common import (
    Terms,
    api_of,
    caller_of,
    flag,
    list_param,
    options_of,
    output_options,
    page_links,
    path_id,
    read_json,
    resource_location,
    terms_for,
)
from ..entity_query import parsed_query
from ..errors import InvalidRequest
from ..negotiation import (
    GEO,
    JSON,
    LD,
    link_context,
    render_docs,
    render_object,
    response,
    response_type,
)
from ..problems import problem_response

BASE = "/ngsi-ld/v1/entities"


def location(entity_id: str) -> str:
    return resource_location(BASE, entity_id)


# -- query ------------------------------------------------------------------------------------

async def query_entities(request: web.Request) -> web.Response:
    api = api_of(request)
    media = response_type(request.headers.get("Accept"), geo=True)
    terms = await terms_for(request, link_context(request))
    parsed = parsed_query(request, terms)
    query = parsed.query
    page = await api.reads.query(query, parsed.output, terms.outward,
                                 audience=caller_of(request).audience, local=parsed.local,
                                 shape=Shape(raw=media != GEO, array=media == JSON))
    headers = {"NGSILD-Results-Count": str(page.count)} if page.count is not None else {}
    links = page_links(request, query.offset, query.limit, page.more)
    if page.array is not None:
        # The hot path: the store's JSON array of stored bytes is the body.
        resp = response(page.array, media, terms.context, headers=headers, links=links)
    elif page.docs is not None:
        body = render_docs(page.docs, media, terms.context)
        resp = response(body, media, terms.context, headers=headers, links=links)
    else:
        resp = entities_response(page.entities or [], media, terms, parsed.output, headers,
                                  links)
    for value in warning_headers(page.warnings):
        resp.headers.add("NGSILD-Warning", value)
    return resp


def entities_response(rendered: list[dict[str, Any]], media: str, terms: Terms,
                      output: OutputOptions, headers: dict[str, str],
                      links: list[str]) -> web.Response:
    """Rendered entities as a JSON array or a GeoJSON FeatureCollection."""
    if media == GEO:
        collection: dict[str, Any] = {"type": "FeatureCollection", "features": [
            feature(e, terms.outward.attr_name(output.geoproperty)) for e in rendered]}
        if terms.context is not None:
            collection["@context"] = terms.context
        return response(orjson.dumps(collection), media, terms.context, headers=headers,
                        links=links)
    body = render_docs((orjson.dumps(e) for e in rendered), media, terms.context)
    return response(body, media, terms.context, headers=headers, links=links)


# -- one entity -------------------------------------------------------------------------------

async def retrieve_entity(request: web.Request) -> web.Response:
    api = api_of(request)
    entity_id = path_id(request, "entity_id")
    media = response_type(request.headers.get("Accept"), geo=True)
    terms = await terms_for(request, link_context(request))
    output = output_options(request, terms)
    wanted = request.query.get("type")
    rendered, warnings = await api.reads.retrieve(
        entity_id, output, terms.outward, audience=caller_of(request).audience,
        local=flag(request, "local"), types=parse_types(wanted, terms.type) if wanted else None)
    if rendered is None:
        resp = problem_response(NotFound(f"entity {entity_id[:256]} not found"),
                                request.path)
    elif isinstance(rendered, list):  # join=flat: the entity and those it links to
        resp = entities_response(rendered, media, terms, output, {}, [])
    elif media == GEO:
        body = feature(rendered, terms.outward.attr_name(output.geoproperty))
        if terms.context is not None:
            body["@context"] = terms.context
        resp = response(orjson.dumps(body), media, terms.context)
    else:
        resp = response(render_object(rendered, media, terms.context), media, terms.context)
    for value in warning_headers(warnings):
        resp.headers.add("NGSILD-Warning", value)
    return resp


async def create_entity(request: web.Request) -> web.Response:
    api = api_of(request)
    body, _media, context = await read_json(request)
    terms = await terms_for(request, context)
    entity = terms.inward.entity(normalize_entity(_without_context(body)))
    await api.entities.create(entity)
    return web.Response(status=201, headers={"Location": location(entity["id"])})


async def purge_entities(request: web.Request) -> web.Response:
    """Purge Entities (NGSI-LD v1.9.1 5.6.21): delete every local entity the selection
    (``type``, ``id``, ``idPattern``, ``q``, ``scopeQ``) matches, each as Delete Entity does
    (notifications, history). A selection is required: an empty one would wipe the node."""
    api = api_of(request)
    q = request.query
    if "dropSubs" in q:
        raise NotSupported("dropSubs (deleting the subscriptions of purged entities) is not "
                           "supported by this node")
    if not any(q.get(k) for k in ("type", "id", "idPattern", "q", "scopeQ")):
        raise BadRequest("purging entities needs type, id, idPattern, q or scopeQ")
    terms = await terms_for(request, link_context(request))
    ids = list_param(request, "id")
    bad = next((i for i in ids if not is_uri(i)), None)
    if bad is not None:
        raise BadRequest(f"id {bad[:64]!r} is not a URI")
    selection = Selection(
        types=parse_types(q["type"], terms.type) if q.get("type") else None, ids=ids,
        id_pattern=q.get("idPattern", ""),
        q=parse_q(q["q"], terms.attr) if q.get("q") else None,
        scope_q=parse_scope_query(q["scopeQ"]) if q.get("scopeQ") else None)
    # The ids first, then the deletions: deleting while scanning would move the scan's pages.
    async with contextlib.aclosing(scan(api.store, selection)) as hits:
        matched = [hit.stored.id async for hit in hits]
    for entity_id in matched:
        with contextlib.suppress(NotFound):  # deleted meanwhile: gone either way
            await api.entities.delete(entity_id)
    return web.Response(status=204)


async def delete_entity(request: web.Request) -> web.Response:
    await api_of(request).entities.delete(path_id(request, "entity_id"))
    return web.Response(status=204)


async def _fragment(request: web.Request, *, allow_null: bool = False,
                    merge_patch: bool = False) -> tuple[dict[str, Any], Terms]:
    body, _media, context = await read_json(request, allow_merge_patch=merge_patch)
    terms = await terms_for(request, context)
    raw = _without_context(body)
    entity_id = path_id(request, "entity_id")
    if "id" in raw and raw["id"] != entity_id:
        raise BadRequest("the entity id in the body differs from the one in the path")
    fragment = normalize_entity(raw, require_id=False, require_type=False,
                                allow_null=allow_null)
    type_iris = None
    if "type" not in fragment:
        # Type-scoped terms (OffStreetParking's category...) need the stored entity's type.
        stored = await api_of(request).store.get_entity(entity_id)
        if stored is not None:
            type_iris = [api_of(request).terms.default.expand(stored.type)]
    return terms.inward.entity(fragment, type_iris), terms


async def _multi_status(request: web.Request, result: ngsi_merge.MergeResult
                        ) -> web.Response:
    if not result.not_updated:
        return web.Response(status=204)
    # The UpdateResult is plain JSON without @context or Link: its attribute names are the
    # expanded IRIs, which need no context to be read (as the ETSI suite, 010_04_01, reads).
    default = api_of(request).terms.default

    def iri(name: str) -> str:
        return name if name in ("scope", "type") else default.expand(name)

    body = {"updated": [iri(n) for n in result.updated],
            "notUpdated": [{**n, "attributeName": iri(n["attributeName"])}
                           for n in result.not_updated]}
    return web.Response(status=207, body=orjson.dumps(body), content_type="application/json")


async def append_attrs(request: web.Request) -> web.Response:
    fragment, terms = await _fragment(request)
    no_overwrite = "noOverwrite" in options_of(request)

    def change(old: dict[str, Any]) -> tuple[dict[str, Any], ngsi_merge.MergeResult]:
        result = ngsi_merge.append(old, fragment, no_overwrite=no_overwrite)
        return result.entity, result

    return await _multi_status(request, await api_of(request).entities.modify(
        path_id(request, "entity_id"), change))


async def update_attrs(request: web.Request) -> web.Response:
    fragment, terms = await _fragment(request, allow_null=True)

    def change(old: dict[str, Any]) -> tuple[dict[str, Any], ngsi_merge.MergeResult]:
        result = ngsi_merge.update(old, fragment)
        return result.entity, result

    return await _multi_status(request, await api_of(request).entities.modify(
        path_id(request, "entity_id"), change))


async def merge_entity(request: web.Request) -> web.Response:
    fragment, _terms = await _fragment(request, allow_null=True, merge_patch=True)

    def change(old: dict[str, Any]) -> tuple[dict[str, Any], None]:
        return ngsi_merge.merge(old, fragment).entity, None

    await api_of(request).entities.modify(path_id(request, "entity_id"), change)
    return web.Response(status=204)


async def replace_entity(request: web.Request) -> web.Response:
    fragment, _terms = await _fragment(request)

    def change(old: dict[str, Any]) -> tuple[dict[str, Any], None]:
        return ngsi_merge.replace(old, fragment), None

    await api_of(request).entities.modify(path_id(request, "entity_id"), change)
    return web.Response(status=204)


async def _attribute_body(request: web.Request, *, partial: bool
                          ) -> tuple[str, Any, dict[str, Any]]:
    """(stored name, normalized attribute, the body as sent) of an attribute operation."""
    body, _media, context = await read_json(request, allow_merge_patch=partial)
    terms = await terms_for(request, context)
    name = request.match_info["attr"]
    check_name(name)
    if name in ("scope", "id", "type"):
        # 5.6.3/5.6.4: not attributes (scope changes through append, update or merge).
        raise BadRequest(f"{name!r} is not an attribute that can be replaced or updated")
    raw = _without_context(body)
    value = normalize_partial_attribute(name, raw) if partial else normalize_attribute(
        name, raw)
    stored_name = terms.attr(name)
    wrapped = terms.inward.entity({"id": "urn:x", "type": "T", name: value})
    return stored_name, wrapped.get(stored_name, value), raw


async def update_attribute(request: web.Request) -> web.Response:
    name, value, raw = await _attribute_body(request, partial=True)
    if isinstance(value, list):
        raise BadRequest("a partial attribute update takes one instance")

    def change(old: dict[str, Any]) -> tuple[dict[str, Any], None]:
        return ngsi_merge.update_attribute(old, name, value,
                                           same_type="type" in raw), None

    await api_of(request).entities.modify(path_id(request, "entity_id"), change)
    return web.Response(status=204)


async def replace_attribute(request: web.Request) -> web.Response:
    name, value, _raw = await _attribute_body(request, partial=False)

    def change(old: dict[str, Any]) -> tuple[dict[str, Any], None]:
        return ngsi_merge.replace_attribute(old, name, value), None

    await api_of(request).entities.modify(path_id(request, "entity_id"), change)
    return web.Response(status=204)


async def delete_attribute(request: web.Request) -> web.Response:
    terms = await terms_for(request, link_context(request))
    name = terms.attr(request.match_info["attr"])
    dataset_id = request.query.get("datasetId")
    delete_all = flag(request, "deleteAll")

    def change(old: dict[str, Any]) -> tuple[dict[str, Any], None]:
        return ngsi_merge.delete_attribute(old, name, dataset_id=dataset_id,
                                           delete_all=delete_all), None

    await api_of(request).entities.modify(path_id(request, "entity_id"), change)
    return web.Response(status=204)


def _without_context(body: Any) -> Any:
    if isinstance(body, dict) and "@context" in body:
        return {k: v for k, v in body.items() if k != "@context"}
    if not isinstance(body, dict):
        # JSON, but not the shape the operation is defined on: a syntactically wrong request.
        raise InvalidRequest("the body must be a JSON object")
    return body


def routes() -> list[tuple[str, str, Any]]:
    entity = BASE + "/{entity_id}"
    return [
        ("POST", BASE, create_entity),
        ("GET", BASE, query_entities),
        ("DELETE", BASE, purge_entities),
        ("GET", entity, retrieve_entity),
        ("DELETE", entity, delete_entity),
        ("PATCH", entity, merge_entity),
        ("PUT", entity, replace_entity),
        ("POST", entity + "/attrs", append_attrs),
        ("PATCH", entity + "/attrs", update_attrs),
        ("PATCH", entity + "/attrs/{attr}", update_attribute),
        ("PUT", entity + "/attrs/{attr}", replace_attribute),
        ("DELETE", entity + "/attrs/{attr}", delete_attribute),
    ]


__all__ = ["routes", "LD"]
