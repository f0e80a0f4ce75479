"""``/ngsi-ld/v1/entities``: create, query, retrieve, merge, replace, delete, attributes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web

from ...errors import BadRequest, NotFound
from ...ngsi import merge as ngsi_merge
from ...ngsi.model import normalize_attribute, normalize_entity
from ...ngsi.q import q_is_conjunction
from ...ngsi.query import NgsiQuery, local_page
from ...ngsi.render import OutputOptions, render_entity
from ...ngsi.scope import ScopeResult, merge, warning_header
from ...service.filters import Near, Within, on_the_wire
from ...service.model import FederatedQuery
from ...service.query import INDEXED_GEOPROPERTY, parse_types
from ..common import (
    Terms,
    api_of,
    caller_of,
    flag,
    options_of,
    output_options,
    page_links,
    path_id,
    read_json,
    resource_location,
    terms_for,
)
from ..entity_query import parsed_query
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
    query, output = parsed.query, parsed.output
    headers: dict[str, str] = {}
    leaves = query.types.leaves() if query.types else ()
    federated = not parsed.local and bool(api.scope.plan(caller_of(request).purpose, leaves))
    if not federated:
        # Without system attributes or GeoJSON a row's timestamps are not needed: the store
        # may answer with stored bytes only.
        docs_only = media != GEO and not output.sys_attrs
        as_stored = output.passthrough and terms.outward.identity
        page = await local_page(api.store, query, docs_only=docs_only,
                                as_array=as_stored and media == JSON)
        if page.count is not None:
            headers["NGSILD-Results-Count"] = str(page.count)
        links = page_links(request, query.offset, query.limit, page.more)
        if page.array is not None:
            # The hot path: the store's JSON array of stored bytes is the body.
            return response(page.array, media, terms.context, headers=headers, links=links)
        if docs_only:
            if as_stored:
                # Stored bytes spliced into the array (with @context for JSON-LD).
                docs = page.stored_docs()
            else:
                docs = [orjson.dumps(render_entity(e, output, terms.outward))
                        for e in page.entities()]
            body = render_docs(docs, media, terms.context)
            return response(body, media, terms.context, headers=headers, links=links)
        rendered = [render_entity(h.decoded(), output, terms.outward, h.stored.created_at,
                                  h.stored.modified_at) for h in page.hits]
        return _entities_response(rendered, media, terms, output, headers, links)
    rendered, count, more, result = await _federated(request, query, output, terms)
    if count is not None:
        headers["NGSILD-Results-Count"] = str(count)
    resp = _entities_response(rendered, media, terms, output, headers,
                              page_links(request, query.offset, query.limit, more))
    for status in result.warnings:
        resp.headers.add("NGSILD-Warning", warning_header(status))
    return resp


async def _federated(request: web.Request, query: NgsiQuery, output: OutputOptions,
                     terms: Terms
                     ) -> tuple[list[dict[str, Any]], int | None, bool, ScopeResult]:
    """One page of local and remote matches merged; ``more`` if a match follows it."""
    api = api_of(request)
    want = query.offset + query.limit
    # One beyond the page, here and at each peer, tells whether a next page exists.
    page = await local_page(api.store, replace(query, offset=0, limit=want + 1))
    local = {h.stored.id: h for h in page.hits}
    conj = q_is_conjunction(query.q) if query.q is not None else ()
    # Only the comparisons the wire carries exactly go to peers (the others, e.g. `~=` or
    # `attr[key]`, would be refused there); everything is checked here on arrival anyway.
    wire = tuple(c for c in conj or () if on_the_wire(c))
    request_for_peers = FederatedQuery(
        types=query.types.leaves() if query.types else (), ids=query.ids,
        id_pattern=query.id_pattern, attrs=output.pick, q=wire,
        # Peers filter geo on their indexed location; another geoproperty is checked here.
        geo=query.geo if isinstance(query.geo, Near | Within)
        and query.geoproperty == INDEXED_GEOPROPERTY else None, limit=want + 1)
    result = await api.scope.query(caller_of(request).purpose, request_for_peers)
    # Peers answered what the wire form could carry; the rest of the filter runs here.
    remote = [e for e in result.entities if query.matches(e)]
    merged = merge([h.decoded() for h in page.hits], remote)
    more = len(merged) > want or result.more
    rendered = []
    for entity in merged[query.offset:want]:
        hit = local.get(entity["id"])
        rendered.append(render_entity(entity, output, terms.outward,
                                      hit.stored.created_at if hit else None,
                                      hit.stored.modified_at if hit else None))
    count = None
    if page.count is not None:
        count = page.count + sum(1 for e in remote if e["id"] not in local)
    return rendered, count, more, result


def _entities_response(rendered: list[dict[str, Any]], media: str, terms: Terms,
                       output: OutputOptions, headers: dict[str, str],
                       links: list[str]) -> web.Response:
    if media == GEO:
        from ...ngsi.model import feature

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
    stored = await api.store.get_entity(entity_id)
    entity = orjson.loads(stored.doc) if stored else None
    result = ScopeResult()
    if not flag(request, "local") and api.scope.plan(caller_of(request).purpose):
        result = await api.scope.query(caller_of(request).purpose, FederatedQuery(
            ids=(entity_id,), attrs=output.pick, limit=1))
        remote = [e for e in result.entities if e.get("id") == entity_id]
        if remote:
            entity = merge([entity] if entity else [], remote)[0]
    wanted = request.query.get("type")
    if entity is not None and wanted:
        types = parse_types(wanted, terms.type)
        if not types.matches((entity.get("type"),)):
            entity = None
    if entity is None:
        resp = problem_response(NotFound(f"entity {entity_id[:256]} not found"),
                                request.path)
    else:
        rendered = render_entity(entity, output, terms.outward,
                                 stored.created_at if stored else None,
                                 stored.modified_at if stored else None)
        if media == GEO:
            from ...ngsi.model import feature

            body = feature(rendered, terms.outward.attr_name(output.geoproperty))
            if terms.context is not None:
                body["@context"] = terms.context
            resp = response(orjson.dumps(body), media, terms.context)
        else:
            resp = response(render_object(rendered, media, terms.context), media,
                            terms.context)
    for status in result.warnings:
        resp.headers.add("NGSILD-Warning", warning_header(status))
    return resp


async def create_entity(request: web.Request) -> web.Response:
    api = api_of(request)
    body, _media, context = await read_json(request)
    terms = await terms_for(request, context)
    entity = terms.inward.entity(normalize_entity(_without_context(body)))
    await api.entities.create(entity)
    return web.Response(status=201, headers={"Location": location(entity["id"])})


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


def _multi_status(result: ngsi_merge.MergeResult, terms: Terms) -> web.Response:
    if not result.not_updated:
        return web.Response(status=204)
    body = {"updated": [terms.outward.attr_name(n) for n in result.updated],
            "notUpdated": [{**n, "attributeName": terms.outward.attr_name(n["attributeName"])}
                           for n in result.not_updated]}
    return web.Response(status=207, body=orjson.dumps(body), content_type="application/json")


async def append_attrs(request: web.Request) -> web.Response:
    fragment, terms = await _fragment(request)
    no_overwrite = "noOverwrite" in options_of(request)
    fragment.pop("type", None)

    def change(old: dict[str, Any]) -> tuple[dict[str, Any], ngsi_merge.MergeResult]:
        result = ngsi_merge.append(old, fragment, no_overwrite=no_overwrite)
        return result.entity, result

    return _multi_status(await api_of(request).entities.modify(
        path_id(request, "entity_id"), change), terms)


async def update_attrs(request: web.Request) -> web.Response:
    fragment, terms = await _fragment(request)
    fragment.pop("type", None)

    def change(old: dict[str, Any]) -> tuple[dict[str, Any], ngsi_merge.MergeResult]:
        result = ngsi_merge.update(old, fragment)
        return result.entity, result

    return _multi_status(await api_of(request).entities.modify(
        path_id(request, "entity_id"), change), terms)


async def merge_entity(request: web.Request) -> web.Response:
    fragment, _terms = await _fragment(request, allow_null=True, merge_patch=True)

    def change(old: dict[str, Any]) -> tuple[dict[str, Any], None]:
        new = ngsi_merge.merge(old, fragment).entity
        if "type" in fragment:
            new["type"] = fragment["type"]
        return new, None

    await api_of(request).entities.modify(path_id(request, "entity_id"), change)
    return web.Response(status=204)


async def replace_entity(request: web.Request) -> web.Response:
    fragment, _terms = await _fragment(request)

    def change(old: dict[str, Any]) -> tuple[dict[str, Any], None]:
        return ngsi_merge.replace(old, fragment), None

    await api_of(request).entities.modify(path_id(request, "entity_id"), change)
    return web.Response(status=204)


async def _attribute_body(request: web.Request, allow_null: bool) -> tuple[str, Any]:
    body, _media, context = await read_json(request)
    terms = await terms_for(request, context)
    name = request.match_info["attr"]
    value = normalize_attribute(name, _without_context(body), allow_null=allow_null)
    stored_name = terms.attr(name)
    wrapped = terms.inward.entity({"id": "urn:x", "type": "T", name: value})
    return stored_name, wrapped.get(stored_name, value)


async def update_attribute(request: web.Request) -> web.Response:
    name, value = await _attribute_body(request, allow_null=True)
    if isinstance(value, list):
        raise BadRequest("a partial attribute update takes one instance")

    def change(old: dict[str, Any]) -> tuple[dict[str, Any], None]:
        return ngsi_merge.update_attribute(old, name, value), None

    await api_of(request).entities.modify(path_id(request, "entity_id"), change)
    return web.Response(status=204)


async def replace_attribute(request: web.Request) -> web.Response:
    name, value = await _attribute_body(request, allow_null=False)

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
        raise BadRequest("the body must be a JSON object")  # JSON, but not the right shape
    return body


def routes() -> list[tuple[str, str, Any]]:
    entity = BASE + "/{entity_id}"
    return [
        ("POST", BASE, create_entity),
        ("GET", BASE, query_entities),
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
